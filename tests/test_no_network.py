"""No network: when the services' names do not resolve, a run ends at once with one line that
says so, instead of every request waiting out its retries. The resolver is replaced by one that
knows no name (socket.getaddrinfo), so the real requests/urllib3 path raises what it raises
without a network; nothing leaves the machine."""

from __future__ import annotations

import socket
import sqlite3

import pytest

from harvester.cli import main

SERVICES = {
    "HARVEST_CROSSREF_URL": "http://api.crossref.invalid",
    "HARVEST_DATACITE_URL": "http://api.datacite.invalid",
    "HARVEST_OPENALEX_URL": "http://api.openalex.invalid",
    "HARVEST_DOI_URL": "http://doi.invalid",
}


@pytest.fixture
def no_dns(monkeypatch, tmp_path):
    """Every name fails to resolve as it does without a network; returns the names asked."""
    asked: list[str] = []

    def getaddrinfo(host, *args, **kwargs):
        asked.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    for name, url in SERVICES.items():
        monkeypatch.setenv(name, url)
    monkeypatch.setenv("HARVEST_DB", str(tmp_path / "harvest.db"))
    monkeypatch.setenv("HARVEST_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("")
    monkeypatch.setenv("HARVEST_MAILTO", "tests@example.org")
    monkeypatch.setenv("HARVEST_LOG_FORMAT", "json")
    return asked


def test_a_harvest_without_network_ends_at_once_with_one_line(no_dns, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["doi", "10.1177/0950017014538339", "10.7554/eLife.01567", "10.5061/dryad.8515"])

    out, err = capsys.readouterr()
    assert exit_.value.code == 1
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: cannot resolve doi.invalid (no network or DNS?): stopped asking; what was "
        "stored is kept, and the next run asks again. Check the network, or the doi.org URL "
        "in the config."
    ]
    assert "failed" not in out  # not a line per identifier, each with its 6 attempts
    assert "fetch.retry" not in err  # nothing waited to be asked again
    assert len(no_dns) <= 3  # the first look-ups, not 6 tries of each
    db = sqlite3.connect(tmp_path / "harvest.db")
    try:
        assert db.execute("SELECT status FROM runs").fetchall() == [("error",)]
    finally:
        db.close()
