import sys
from pathlib import Path

import pytest

from recognition.config import Settings, load_settings
from recognition.errors import BackendUnavailable, ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_config_yaml_equals_the_defaults(monkeypatch):
    monkeypatch.delenv("KAOBOT_DATA_DIR", raising=False)
    assert load_settings(ROOT / "config.yaml") == Settings()


def test_values_override_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("recognition:\n  threshold: 0.5\ndetector:\n  min_size: 40\n")
    s = load_settings(path)
    assert s.recognition.threshold == 0.5 and s.detector.min_size == 40 and s.detector.backend == "torch"


def test_environment_selects_file_and_data_dir(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text("data_dir: /from/file\n")
    monkeypatch.setenv("KAOBOT_CONFIG", str(path))
    assert load_settings().data_dir == "/from/file"
    monkeypatch.setenv("KAOBOT_DATA_DIR", str(tmp_path / "d"))
    s = load_settings()
    assert s.data_dir == str(tmp_path / "d") and s.gallery_path == tmp_path / "d" / "gallery.sqlite3"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("detector:\n  treshold: 0.3\n", "detector.treshold"),
        ("nonsense: 1\n", "nonsense"),
        ("recognition:\n  threshold: high\n", "recognition.threshold"),
        ("recognition: [1, 2]\n", "recognition"),
        ("detector: {backend: [unclosed\n", "not valid YAML"),
    ],
)
def test_invalid_files_are_clear_errors(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_settings(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.yaml")


def test_missing_animeface_says_what_to_configure(monkeypatch):
    from recognition.detect import animeface_backend

    monkeypatch.setitem(sys.modules, "animeface", None)  # as on a platform without its wheel
    with pytest.raises(BackendUnavailable, match="detector.backend"):
        animeface_backend.AnimefaceDetector()
