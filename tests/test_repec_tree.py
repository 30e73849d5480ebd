"""RePEc archive trees: listing and incremental reading, from a local folder and over HTTP.

The trees are built in tmp_path at test time from the real ReDIF files in
../shared/fixtures/redif (see PROVENANCE.tsv), laid out as their archives publish them. HTTP is
either Python's own http.server on 127.0.0.1 (real directory listings, Last-Modified and 304s),
or `responses` serving nginx and Apache autoindex pages written out below.
"""

from __future__ import annotations

import functools
import os
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import responses
from conftest import fixture_path
from fakes import fake_client

from harvester.config import HttpConfig
from harvester.errors import BadIdentifier, BadPayload, ConfigError, NotFound
from harvester.http import HttpClient
from harvester.identifiers import parse_repec
from harvester.sources.redif import parse_file
from harvester.sources.repec import (
    HttpTree,
    LocalTree,
    TreeFile,
    archive_folder,
    open_tree,
    series_folder,
)

#: path in the tree -> the recorded file it holds.
TREE = {
    "awu/awuarch.rdf": "redif/awu_awuarch.rdf",
    "awu/awuseri.rdf": "redif/awu_awuseri.rdf",
    "awu/journl/prova.rdf": "redif/awu_journl_prova.rdf",
    "cxs/cxsarch.rdf": "redif/cxs_cxsarch.rdf",
    "cxs/wpaper/2021.rdf": "redif/cxs_wpaper_at-075172c.rdf",
    "cxs/wpaper/sub/wpaper.rdf": "redif/cxs_wpaper.rdf",
    "epo/eposeri.rdf": "redif/epo_eposeri.rdf",
    "epo/papers/2005.rdf": "redif/epo_papers_2005.rdf",
    "epo/papers/2016.RDF": "redif/epo_papers_2016.rdf",
}
#: Files that are in the folders but are not ReDIF, or are hidden (rsync's temporary files).
NOISE = {
    "awu/journl/README.txt": b"not ReDIF",
    "awu/journl/.prova.rdf.Xy12Ab": b"half-written by rsync",
    ".git/config.rdf": b"hidden folder",
}
HTTP = HttpConfig(
    connect_timeout=2.0,
    read_timeout=5.0,
    max_attempts=2,
    backoff_initial=0.01,
    backoff_max=0.02,
    retry_after_cap=0.1,
)
BASE = "http://127.0.0.1:8080/RePEc"


def paths(files) -> list[str]:
    return [f.path for f in files]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "RePEc"
    for path, fixture in TREE.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(fixture_path(fixture).read_bytes())
    for path, data in NOISE.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return root


@pytest.fixture
def client() -> HttpClient:
    return fake_client(http=HTTP, seed=1)


class _Handler(SimpleHTTPRequestHandler):
    """http.server's file handler, quiet, noting (path, status, request headers) of each request."""

    def __init__(self, *args, seen: list, **kwargs) -> None:
        self.seen = seen
        super().__init__(*args, **kwargs)

    def log_request(self, code="-", size="-") -> None:
        self.seen.append((self.path, int(code), dict(self.headers)))

    def log_message(self, format, *args) -> None:
        pass


@pytest.fixture
def served(tree: Path):
    """The tree served by http.server on 127.0.0.1: (base URL, requests seen)."""
    seen: list = []
    handler = functools.partial(_Handler, seen=seen, directory=str(tree))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# --- LocalTree ---


def test_local_lists_every_redif_file_sorted(tree):
    listed = paths(LocalTree(tree).files())

    assert listed == sorted(TREE)
    assert all(isinstance(f, TreeFile) for f in LocalTree(tree).files())


@pytest.mark.parametrize(
    ("under", "expected"),
    [
        ("awu", ["awu/awuarch.rdf", "awu/awuseri.rdf", "awu/journl/prova.rdf"]),
        ("cxs/wpaper", ["cxs/wpaper/2021.rdf", "cxs/wpaper/sub/wpaper.rdf"]),
        ("epo/papers/", ["epo/papers/2005.rdf", "epo/papers/2016.RDF"]),
        ("/awu/journl", ["awu/journl/prova.rdf"]),
        ("zzz", []),
        ("awu/nosuch", []),
        ("awu/awuarch.rdf", []),
        ("../RePEc/awu", []),
    ],
)
def test_local_lists_one_folder(tree, under, expected):
    assert paths(LocalTree(tree).files(under)) == expected


def test_local_matches_folder_names_case_insensitively(tree):
    (tree / "epo" / "papers").rename(tree / "epo" / "PAPERS")
    local = LocalTree(tree)

    assert paths(local.files(series_folder("RePEc:epo:papers:0501"))) == [
        "epo/PAPERS/2005.rdf",
        "epo/PAPERS/2016.RDF",
    ]
    assert paths(local.files("AWU/Journl")) == ["awu/journl/prova.rdf"]


def test_local_read_gives_bytes_and_a_version(tree):
    data, version = LocalTree(tree).read("awu/journl/prova.rdf")

    assert data == fixture_path("redif/awu_journl_prova.rdf").read_bytes()
    stat = (tree / "awu/journl/prova.rdf").stat()
    assert version == f"{stat.st_mtime_ns}:{stat.st_size}"
    assert len(parse_file(data, "awu/journl/prova.rdf").templates) == 153


def test_local_unchanged_file_is_not_read_again(tree, monkeypatch):
    local = LocalTree(tree)
    _, version = local.read("epo/papers/2005.rdf")

    def no_reading(self):
        raise AssertionError(f"{self} was read although unchanged")

    monkeypatch.setattr(Path, "read_bytes", no_reading)

    assert local.read("epo/papers/2005.rdf", version) == (None, version)


def test_local_touched_file_is_read_again(tree):
    local = LocalTree(tree)
    path = tree / "epo/papers/2016.RDF"
    _, version = local.read("epo/papers/2016.RDF")
    path.write_bytes(path.read_bytes() + b"\r\n")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))

    data, new_version = local.read("epo/papers/2016.RDF", version)

    assert new_version != version
    assert data == fixture_path("redif/epo_papers_2016.rdf").read_bytes() + b"\r\n"


@pytest.mark.parametrize("path", ["awu/nosuch.rdf", "awu", "", "../RePEc/awu/awuarch.rdf"])
def test_local_missing_file_is_not_found(tree, path):
    with pytest.raises(NotFound):
        LocalTree(tree).read(path)


def test_local_follows_no_symlink_out_of_the_root(tree, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.rdf").write_bytes(b"Template-Type: ReDIF-Paper 1.0\n")
    (tree / "awu" / "secret.rdf").symlink_to(outside / "secret.rdf")
    (tree / "awu" / "elsewhere").symlink_to(outside, target_is_directory=True)
    (tree / "awu" / "alias.rdf").symlink_to(tree / "awu" / "awuarch.rdf")
    local = LocalTree(tree)

    assert paths(local.files("awu")) == [
        "awu/alias.rdf",
        "awu/awuarch.rdf",
        "awu/awuseri.rdf",
        "awu/journl/prova.rdf",
    ]
    for escaping in ("awu/secret.rdf", "awu/elsewhere/secret.rdf"):
        with pytest.raises(NotFound):
            local.read(escaping)
    assert local.read("awu/alias.rdf")[0] == fixture_path("redif/awu_awuarch.rdf").read_bytes()


# --- HttpTree over http.server ---


def test_http_lists_what_local_lists(tree, served, client):
    base, _ = served
    remote = HttpTree(base + "/", client)

    assert paths(remote.files()) == paths(LocalTree(tree).files()) == sorted(TREE)
    for under in ("awu", "cxs/wpaper", "epo/papers", "zzz", "awu/nosuch"):
        assert paths(remote.files(under)) == paths(LocalTree(tree).files(under))


def test_http_matches_folder_names_case_insensitively(tree, served, client):
    (tree / "epo" / "papers").rename(tree / "epo" / "PAPERS")
    base, _ = served

    assert paths(HttpTree(base, client).files("epo/papers")) == [
        "epo/PAPERS/2005.rdf",
        "epo/PAPERS/2016.RDF",
    ]


def test_http_reread_of_unchanged_file_is_a_304(tree, served, client):
    base, seen = served
    remote = HttpTree(base, client)

    data, version = remote.read("epo/papers/2005.rdf")
    again = remote.read("epo/papers/2005.rdf", version)

    assert data == fixture_path("redif/epo_papers_2005.rdf").read_bytes()
    assert version.startswith("modified:")
    assert again == (None, version)
    (first, status1, _), (second, status2, headers2) = seen
    assert (first, status1) == ("/epo/papers/2005.rdf", 200)
    assert (second, status2) == ("/epo/papers/2005.rdf", 304)
    assert headers2["If-Modified-Since"] == version.removeprefix("modified:")


def test_http_touched_file_is_read_again(tree, served, client):
    base, _ = served
    remote = HttpTree(base, client)
    path = tree / "cxs/cxsarch.rdf"
    _, version = remote.read("cxs/cxsarch.rdf")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 60_000_000_000))

    data, new_version = remote.read("cxs/cxsarch.rdf", version)

    assert data == fixture_path("redif/cxs_cxsarch.rdf").read_bytes()
    assert new_version != version


def test_http_missing_file_is_not_found(served, client):
    base, _ = served

    with pytest.raises(NotFound):
        HttpTree(base, client).read("awu/nosuch.rdf")


# --- HttpTree over other servers' listings ---

NGINX_ROOT = """<html>
<head><title>Index of /RePEc/</title></head>
<body>
<h1>Index of /RePEc/</h1><hr><pre><a href="../">../</a>
<a href="awu/">awu/</a>                                               12-Mar-2025 09:14       -
</pre><hr></body>
</html>
"""
NGINX_AWU = """<html>
<head><title>Index of /RePEc/awu/</title></head>
<body>
<h1>Index of /RePEc/awu/</h1><hr><pre><a href="../">../</a>
<a href="journl/">journl/</a>                                            12-Mar-2025 09:14       -
<a href="awuarch.rdf">awuarch.rdf</a>                                        12-Mar-2025 09:14     272
<a href="awuseri.rdf">awuseri.rdf</a>                                        12-Mar-2025 09:14     294
</pre><hr></body>
</html>
"""
APACHE_JOURNL = """<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">
<html>
 <head>
  <title>Index of /RePEc/awu/journl</title>
 </head>
 <body>
<h1>Index of /RePEc/awu/journl</h1>
  <table>
   <tr><th valign="top"><img src="/icons/blank.gif" alt="[ICO]"></th><th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a></th><th><a href="?C=S;O=A">Size</a></th><th><a href="?C=D;O=A">Description</a></th></tr>
   <tr><th colspan="5"><hr></th></tr>
<tr><td valign="top"><img src="/icons/back.gif" alt="[PARENTDIR]"></td><td><a href="/RePEc/awu/">Parent Directory</a></td><td>&nbsp;</td><td align="right">  - </td><td>&nbsp;</td></tr>
<tr><td valign="top"><img src="/icons/folder.gif" alt="[DIR]"></td><td><a href="old%20files/">old files/</a></td><td align="right">2025-03-12 09:14  </td><td align="right">  - </td><td>&nbsp;</td></tr>
<tr><td valign="top"><img src="/icons/text.gif" alt="[TXT]"></td><td><a href="prova.rdf">prova.rdf</a></td><td align="right">2025-03-12 09:14  </td><td align="right">204K</td><td>&nbsp;</td></tr>
<tr><td valign="top"><img src="/icons/text.gif" alt="[TXT]"></td><td><a href="README.txt">README.txt</a></td><td align="right">2025-03-12 09:14  </td><td align="right">9</td><td>&nbsp;</td></tr>
   <tr><th colspan="5"><hr></th></tr>
</table>
<address>Apache/2.4.62 (Debian) Server at 127.0.0.1 Port 8080</address>
</body></html>
"""
#: Links a listing might hold that lead out of the folder: none of them may be followed.
ESCAPES = """<html><body><pre>
<a href="http://elsewhere.example/RePEc/awu/journl/old%20files/x.rdf">x.rdf</a>
<a href="//elsewhere.example/RePEc/awu/journl/old%20files/y.rdf">y.rdf</a>
<a href="https://127.0.0.1:8080/RePEc/awu/journl/old%20files/scheme.rdf">scheme.rdf</a>
<a href="/RePEc/other/z.rdf">z.rdf</a>
<a href="../../../etc/passwd.rdf">passwd.rdf</a>
<a href="%2e%2e/up.rdf">up.rdf</a>
<a href="sub/../../up2.rdf">up2.rdf</a>
<a href="deeper/than/a/child.rdf">child.rdf</a>
<a href=".hidden.rdf">.hidden.rdf</a>
<a href="mailto:someone@example.org">mail</a>
<a href="javascript:alert(1)">js</a>
<a href="#top">top</a>
<a href="?C=M;O=A">sort</a>
<a href="q.rdf?download=1">query</a>
<a href="/elsewhere/entirely/outside/w.rdf">w.rdf</a>
<a href="http://127.0.0.1:8080/RePEc/awu/journl/old%20files/a.rdf">a.rdf</a>
<a href="b.rdf">b.rdf</a>
</pre></body></html>
"""
HTML = {"Content-Type": "text/html;charset=UTF-8"}


@pytest.fixture
def listings():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(f"{BASE}/", body=NGINX_ROOT, headers=HTML)
        rsps.get(f"{BASE}/awu/", body=NGINX_AWU, headers=HTML)
        rsps.get(f"{BASE}/awu/journl/", body=APACHE_JOURNL, headers=HTML)
        rsps.get(f"{BASE}/awu/journl/old%20files/", body=ESCAPES, headers=HTML)
        yield rsps


def test_nginx_and_apache_listings_are_read(listings, client):
    remote = HttpTree(BASE, client)

    assert paths(remote.files()) == [
        "awu/awuarch.rdf",
        "awu/awuseri.rdf",
        "awu/journl/old files/a.rdf",
        "awu/journl/old files/b.rdf",
        "awu/journl/prova.rdf",
    ]
    asked = [call.request.url for call in listings.calls]
    assert asked == [
        f"{BASE}/",
        f"{BASE}/awu/",
        f"{BASE}/awu/journl/",
        f"{BASE}/awu/journl/old%20files/",
    ]
    assert all(call.request.headers["Accept"].startswith("text/html") for call in listings.calls)


def test_listing_that_is_not_html_is_bad_payload(client):
    with responses.RequestsMock() as rsps:
        rsps.get(f"{BASE}/awu/", json={"files": ["awuarch.rdf"]})
        with pytest.raises(BadPayload, match="expected an HTML directory listing"):
            list(HttpTree(BASE, client).files("awu"))


def test_etag_is_the_version_and_is_sent_back(client):
    body = fixture_path("redif/awu_awuarch.rdf").read_bytes()
    with responses.RequestsMock() as rsps:
        rsps.get(f"{BASE}/awu/awuarch.rdf", body=body, headers={"ETag": '"5f-272"'})
        rsps.get(f"{BASE}/awu/awuarch.rdf", status=304)
        remote = HttpTree(BASE, client)

        first = remote.read("awu/awuarch.rdf")
        second = remote.read("awu/awuarch.rdf", first[1])

        assert first == (body, 'etag:"5f-272"')
        assert second == (None, 'etag:"5f-272"')
        assert rsps.calls[1].request.headers["If-None-Match"] == '"5f-272"'


def test_without_etag_or_last_modified_the_content_hash_is_the_version(client):
    body = fixture_path("redif/awu_awuseri.rdf").read_bytes()
    with responses.RequestsMock() as rsps:
        rsps.get(f"{BASE}/awu/awuseri.rdf", body=body)
        remote = HttpTree(BASE, client)

        data, version = remote.read("awu/awuseri.rdf")
        again = remote.read("awu/awuseri.rdf", version)

        assert data == body
        assert version.startswith("sha256:") and len(version) == len("sha256:") + 64
        assert again == (None, version)
        assert "If-None-Match" not in rsps.calls[1].request.headers


# --- open_tree, folders of handles ---


def test_open_tree_needs_a_url():
    with pytest.raises(ConfigError) as err:
        open_tree("", None)
    assert str(err.value) == (
        "[repec] url is not set: point it (or HARVEST_REPEC_URL) at a RePEc archive tree: "
        "a folder or an http(s) base"
    )


def test_open_tree_names_a_missing_folder(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ConfigError, match="nowhere"):
        open_tree(str(missing), None)
    with pytest.raises(ConfigError, match="nowhere"):
        open_tree(missing.as_uri(), None)


def test_open_tree_reads_folders_and_file_urls(tree):
    for url in (str(tree), tree.as_uri()):
        opened = open_tree(url, None)
        assert isinstance(opened, LocalTree)
        assert paths(opened.files("awu/journl")) == ["awu/journl/prova.rdf"]


def test_open_tree_reads_http_bases(client):
    opened = open_tree("https://repec.example.org/RePEc", client)

    assert isinstance(opened, HttpTree)
    assert opened.base_url == "https://repec.example.org/RePEc/"


def test_open_tree_refuses_other_schemes():
    with pytest.raises(ConfigError, match="ftp"):
        open_tree("ftp://ftp.repec.org/RePEc", None)


@pytest.mark.parametrize(
    ("handle", "archive", "series"),
    [
        ("RePEc:sae:woemps:v:29:y:2015:i:3:p:411-430", "sae", "sae/woemps"),
        ("RePEc:sae:woemps", "sae", "sae/woemps"),
        ("repec:SAE:WoEmps:1", "sae", "sae/woemps"),
        (parse_repec("RePEc:cxs:wpaper:202101"), "cxs", "cxs/wpaper"),
    ],
)
def test_folders_of_a_handle(handle, archive, series):
    assert archive_folder(handle) == archive
    assert series_folder(handle) == series


@pytest.mark.parametrize(
    "handle", ["RePEc:sae", "RePEc:../:woemps", "RePEc:sae:wo/../", "doi:10.1/x"]
)
def test_series_folder_refuses_what_is_not_a_series(handle):
    with pytest.raises(BadIdentifier):
        series_folder(handle)
