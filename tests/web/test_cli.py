"""`kaobot web` on the command line."""

import pytest

from tools.cli import build_parser


def test_web_binds_this_machine_only_by_default():
    args = build_parser().parse_args(["web"])
    assert (args.host, args.port, args.scope) == ("127.0.0.1", 8080, "global")
    assert args.func.__module__ == "web.cli"


def test_web_options():
    args = build_parser().parse_args(
        ["web", "--host", "0.0.0.0", "--port", "9000", "--scope", "1234", "--data-dir", "d"]
    )
    assert (args.host, args.port, args.scope, args.data_dir) == ("0.0.0.0", 9000, "1234", "d")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["web", "--port", "70000"])
