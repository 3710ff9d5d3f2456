"""Writes the drawn example pictures in `examples/` (our own drawings, free to ship).

python -m tools.make_examples
"""

from __future__ import annotations

from pathlib import Path

from recognition.images import encode_png
from training.drawing import CharacterStyle, draw_scene

ALICE = CharacterStyle(hair=(60, 60, 200), eyes=(40, 160, 60), hair_length=0.9, bangs=3)
BELLA = CharacterStyle(hair=(230, 200, 80), eyes=(180, 60, 60), hair_length=0.3, bangs=4, ribbon=(220, 40, 40))
CARLA = CharacterStyle(hair=(200, 60, 140), eyes=(90, 60, 200), skin=(240, 210, 190), hair_length=0.6, bangs=2)
EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"

EXAMPLES = {
    "alice.png": ([(200, 200, 170, ALICE)], (420, 400), (235, 235, 235)),
    "alice-2.png": ([(230, 190, 150, ALICE)], (460, 380), (210, 230, 245)),
    "bella.png": ([(200, 200, 160, BELLA)], (420, 400), (235, 235, 235)),
    "pair.png": ([(180, 200, 180, ALICE), (520, 210, 160, BELLA)], (700, 400), (245, 235, 220)),
}


def main(out: Path = EXAMPLES_DIR) -> None:
    out.mkdir(exist_ok=True)
    for name, (faces, size, background) in EXAMPLES.items():
        (out / name).write_bytes(encode_png(draw_scene(faces, size=size, background=background)))
        print(out / name)


if __name__ == "__main__":
    main()
