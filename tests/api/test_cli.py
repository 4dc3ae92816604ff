"""`kgspatial keys create` prints a key once and keeps only its hash; bad input exits 2."""

from __future__ import annotations

import pytest

from kgspatial.cli import main


def test_keys_create_prints_a_working_key(tmp_path, capsys):
    main(["keys", "create", "--role", "planner", "--name", "Phòng Quản lý đô thị", "--data-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    key = out.strip()
    assert key.startswith("kgs_") and len(key) > 40
    assert "planner" in err and key not in err
    assert key.encode() not in (tmp_path / "kgspatial.sqlite").read_bytes()

    from api import Settings
    from api.store import open_store

    store = open_store(Settings(data_dir=tmp_path), ())
    try:
        assert store.key_by_secret(key)["role"] == "planner"
        assert store.key_by_secret(key + "x") is None
    finally:
        store.close()


@pytest.mark.parametrize("args", [["--role", "root", "--name", "x"], ["--role", "admin", "--name", "  "]])
def test_keys_create_rejects_bad_input(tmp_path, capsys, args):
    with pytest.raises(SystemExit) as exc:
        main(["keys", "create", *args, "--data-dir", str(tmp_path)])
    assert exc.value.code == 2
    assert capsys.readouterr().err.startswith("kgspatial: error:")
