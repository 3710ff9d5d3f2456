"""Settings: typed defaults, overridden by a YAML file; unknown keys are errors.

Secrets never live in the file: they are read from environment variables at the point of use.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from .errors import ConfigError


@dataclass
class LimitSettings:
    max_bytes: int = 25 * 1024 * 1024
    max_pixels: int = 40_000_000


@dataclass
class DetectorSettings:
    backend: str = "torch"
    threshold: float = 0.5
    min_size: int = 8
    pad: float = 0.25
    pad_below: int = 640
    max_side: int = 1024
    checkpoint: str | None = None
    device: str = "auto"
    input_side: int | None = 640  # torch: longer side the network sees (null: the checkpoint's own sizing)
    max_upscale: float = 4.0  # torch: a picture is enlarged at most this much to reach input_side
    tile: int | None = None  # torch: pictures longer than this also run as overlapping tiles of this side
    tile_overlap: float = 0.25  # torch: least overlap between tiles, as a fraction of a tile
    # torch: score thresholds for faces of side (√(w·h)) < 24, 24–48, 48–96, ≥ 96 px ([]: `threshold` for all)
    size_thresholds: list[float] = field(default_factory=lambda: [0.5, 0.525, 0.525, 0.6])


@dataclass
class EmbedderSettings:
    backend: str = "fusion"
    checkpoint: str | None = None
    device: str = "auto"
    fusion_weight: float = 0.5


@dataclass
class RecognitionSettings:
    threshold: float | None = None  # null: the embedder's own (its model file's), else DEFAULT_THRESHOLD
    top_k: int = 3
    max_faces: int = 20
    one_name_per_picture: bool = True  # a character names at most one face per picture (false: twins, clones)
    enroll_min_score: float = 0.55  # enrolment passes over faces the detector scored below this


@dataclass
class ElasticsearchSettings:
    """The Elasticsearch gallery (`gallery.backend: elasticsearch`). Secrets come from the environment:
    `KAOBOT_ES_API_KEY` (preferred) or `KAOBOT_ES_PASSWORD` with `username`."""

    hosts: list[str] = field(default_factory=lambda: ["http://localhost:9200"])
    username: str | None = None
    verify_certs: bool = True
    ca_certs: str | None = None
    request_timeout: float = 10.0
    retries: int = 3
    retry_backoff: float = 0.5
    index: str = "anime_face"
    shards: int = 1
    replicas: int = 1
    index_type: str = "hnsw"
    search: str = "knn"
    k: int = 100
    num_candidates: int = 200
    collapse: bool = True
    bulk_chunk_size: int = 500


@dataclass
class InferenceSettings:
    threads: int = 1
    compute_threads: int = 1  # torch / ONNX Runtime intra-op threads per analysis; 0: one per core
    processes: int = 0
    max_batch: int = 8
    max_wait_ms: float = 5.0
    max_pending: int = 32


@dataclass
class GallerySettings:
    backend: str = "sqlite"
    path: str | None = None
    quantize_above: int | None = 20_000
    ann_above: int | None = None
    rerank: int = 64
    elasticsearch: ElasticsearchSettings = field(default_factory=ElasticsearchSettings)


@dataclass
class BotSettings:
    """The Discord bot (`kaobot bot`); the token comes from `$DISCORD_TOKEN`, never from here."""

    admin_role: int | None = None  # id of a role allowed to use admin commands (besides Manage Server)
    watch_threshold: float | None = None  # watched channels answer only above this; null: recognition.threshold
    message_content: bool = True  # privileged intent, needed only to read pictures in watched channels
    cooldown_uses: int = 3  # /whois and "Who is this?" uses per user ...
    cooldown_seconds: float = 30.0  # ... within this many seconds
    server_uses: int = 30  # /whois and "Who is this?" uses per server (guild), all members together ...
    server_seconds: float = 60.0  # ... within this many seconds; server_uses 0: no server limit
    max_images: int = 3  # pictures looked at per message
    download_timeout: float = 20.0  # seconds for one download from Discord
    state_path: str | None = None  # watched channels; default <data_dir>/bot.sqlite3


@dataclass
class ReviewSettings:
    """Corrections from members (the review queue, `kaobot review`, the bot's /review)."""

    enabled: bool = True  # the "Correct a name" button on answers; admins still approve each one
    expire_days: float = 14.0  # a pending suggestion nobody decided on is dropped after this
    max_pending: int = 100  # pending suggestions per scope; further ones are refused until some are decided
    member_limit: int = 5  # suggestions per member ...
    member_window_minutes: float = 60.0  # ... within this many minutes
    auto_approve_votes: int | None = (
        None  # opt-in: approve when this many different members suggest the same name for a face
    )
    path: str | None = (
        None  # the SQLite queue; default <data_dir>/review.sqlite3 (Elasticsearch: the gallery's cluster)
    )
    # Unknowns worth enrolling (opt-in per scope): faces answered "unknown" are kept, clustered, and
    # groups seen `unknowns_min_count` times or more are offered in /review and `kaobot review unknowns`.
    unknowns: list[str] = field(default_factory=list)  # scopes (server ids) that keep them; "*": every scope
    unknowns_min_count: int = 3  # faces in a cluster before it is offered
    unknowns_max: int = 500  # kept per scope; the oldest go first
    unknowns_days: float = 30.0  # kept at most this long


@dataclass
class Settings:
    data_dir: str = "./data"
    limits: LimitSettings = field(default_factory=LimitSettings)
    detector: DetectorSettings = field(default_factory=DetectorSettings)
    embedder: EmbedderSettings = field(default_factory=EmbedderSettings)
    recognition: RecognitionSettings = field(default_factory=RecognitionSettings)
    inference: InferenceSettings = field(default_factory=InferenceSettings)
    gallery: GallerySettings = field(default_factory=GallerySettings)
    bot: BotSettings = field(default_factory=BotSettings)
    review: ReviewSettings = field(default_factory=ReviewSettings)

    @property
    def gallery_path(self) -> Path:
        """The SQLite gallery file: `gallery.path`, else `<data_dir>/gallery.sqlite3`."""
        return Path(self.gallery.path) if self.gallery.path else Path(self.data_dir) / "gallery.sqlite3"

    @property
    def review_path(self) -> Path:
        """The SQLite review queue: `review.path`, else `<data_dir>/review.sqlite3`."""
        return Path(self.review.path) if self.review.path else Path(self.data_dir) / "review.sqlite3"

    @property
    def bot_state_path(self) -> Path:
        """The bot's own state (watched channels): `bot.state_path`, else `<data_dir>/bot.sqlite3`."""
        return Path(self.bot.state_path) if self.bot.state_path else Path(self.data_dir) / "bot.sqlite3"


def _build(cls: type, values: Any, where: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{where or 'the configuration'} must be a mapping, not {type(values).__name__}")
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(
            f"unknown setting(s) {', '.join(where + k for k in unknown)}; valid: {', '.join(sorted(names))}"
        )
    kwargs = {}
    for key, value in values.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = _build(hint, value or {}, f"{where}{key}.")
        else:
            kwargs[key] = _coerce(value, hint, where + key)
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, name: str) -> Any:
    if value is None:
        return None
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list):
            raise ConfigError(f"setting {name} must be a list, not {value!r}")
        return [_coerce(v, item, f"{name}[{i}]") for i, v in enumerate(values)]
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType)
    base = {int: int, float: float, str: str, bool: bool}
    for typ in (bool, int, float, str):
        if hint is typ or (optional and typ in typing.get_args(hint)):
            if typ is bool and not isinstance(value, bool):
                raise ConfigError(f"setting {name} must be true or false, not {value!r}")
            if typ in (int, float) and isinstance(value, bool):
                raise ConfigError(f"setting {name} must be a number, not {value!r}")
            try:
                return base[typ](value)
            except (TypeError, ValueError):
                raise ConfigError(f"setting {name} must be {typ.__name__}, not {value!r}") from None
    return value


def load_settings(path: str | Path | None = None, data_dir: str | None = None) -> Settings:
    """Defaults, then the YAML file (`path`, else `$KAOBOT_CONFIG`), then the data directory
    (`data_dir`, else `$KAOBOT_DATA_DIR`)."""
    path = path or os.environ.get("KAOBOT_CONFIG")
    values: dict[str, Any] = {}
    if path:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"configuration file not found: {path}")
        try:
            values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"configuration file {path} is not valid YAML: {exc}") from exc
    settings = _build(Settings, values, "")
    data_dir = data_dir or os.environ.get("KAOBOT_DATA_DIR")
    if data_dir:
        settings.data_dir = data_dir
    return settings
