"""Files written whole or not at all (npusim.atomicio)."""

import pytest

from npusim.atomicio import write_whole


def _fail_half_way(tmp):
    tmp.write_text("half a tab")
    raise OSError(28, "No space left on device")


def test_a_failed_write_leaves_an_existing_file_as_it_was_and_nothing_beside_it(tmp_path):
    path = tmp_path / "layers.csv"
    path.write_text("old,table\n")
    with pytest.raises(OSError):
        write_whole(path, _fail_half_way)
    assert path.read_text() == "old,table\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["layers.csv"]


def test_a_failed_first_write_leaves_no_file(tmp_path):
    with pytest.raises(OSError):
        write_whole(tmp_path / "new.csv", _fail_half_way)
    assert list(tmp_path.iterdir()) == []


def test_a_whole_write_replaces_the_file(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("old")
    write_whole(path, lambda tmp: tmp.write_text("new"))
    assert path.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def test_a_link_is_written_through_and_a_file_keeps_its_permissions(tmp_path):
    target = tmp_path / "real.csv"
    target.write_text("old")
    target.chmod(0o640)
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    write_whole(link, lambda tmp: tmp.write_text("new"))
    assert link.is_symlink() and target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.csv", "real.csv"]


def test_a_device_is_written_to_not_replaced_and_a_folder_is_refused(tmp_path):
    import stat
    from pathlib import Path

    write_whole(Path("/dev/null"), lambda f: f.write_text("gone"))
    assert stat.S_ISCHR(Path("/dev/null").stat().st_mode)
    with pytest.raises(IsADirectoryError):
        write_whole(tmp_path, lambda f: f.write_text("x"))
    assert list(tmp_path.iterdir()) == []
