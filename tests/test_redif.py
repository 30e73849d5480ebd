"""The ReDIF parser, checked against the real files in ../shared/fixtures/redif and small hand-made
inputs, one per quirk. Expected values were read from the fixture files (see PROVENANCE.tsv) and
are written out literally, so a reader can check them against the file by eye.
"""

from __future__ import annotations

import codecs

import pytest
from conftest import FIXTURES, fixture_path
from hypothesis import given
from hypothesis import strategies as st

from harvester.models import Author, Relation
from harvester.sources.redif import (
    RedifFile,
    Template,
    TemplateError,
    decode_redif,
    doi_of,
    iter_templates,
    parse_file,
    series_names,
    to_record,
)


def redif(name: str) -> RedifFile:
    return parse_file(fixture_path(f"redif/{name}").read_bytes(), name)


def template(parsed: RedifFile, handle: str) -> Template:
    [found] = [t for t in parsed.templates if t.handle == handle]
    return found


def read(text: str) -> list[Template | TemplateError]:
    """Hand-made input as lines, the way a caller streams a file."""
    return list(iter_templates(text.splitlines(keepends=True), "test.rdf"))


def one(text: str) -> Template:
    [item] = read(text)
    assert isinstance(item, Template), item
    return item


PAPER = "Template-Type: ReDIF-Paper 1.0\nHandle: RePEc:abc:wpaper:1\n"


# --- every real file ---

#: file -> (encoding detected, templates kept, lines of the templates reported and skipped)
EXPECTED = {
    "awu_awuarch.rdf": ("utf-8", 1, []),
    "awu_awuseri.rdf": ("utf-8", 1, []),
    "awu_journl_awuarch_at-06f2393.rdf": ("utf-8 (repaired double encoding)", 25, [1, 466]),
    "awu_journl_prova.rdf": ("utf-8 (repaired double encoding)", 153, [266, 2853, 3051, 3235]),
    "cxs_cxsarch.rdf": ("utf-8", 1, []),
    "cxs_wpaper.rdf": ("utf-8", 30, []),
    "cxs_wpaper_at-075172c.rdf": ("utf-8", 21, [92, 150]),
    "epo_eposeri.rdf": ("utf-8", 2, []),
    "epo_papers_2005.rdf": ("cp1252", 37, []),
    "epo_papers_2016.rdf": ("cp1252", 7, []),
}


@pytest.mark.usefixtures("fixtures_dir")  # reads the shared corpus as a whole
def test_every_fixture_file_is_covered():
    on_disk = sorted(p.name for p in (FIXTURES / "redif").glob("*.rdf"))
    assert on_disk == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_file_parses(name):
    encoding, count, error_lines = EXPECTED[name]
    parsed = redif(name)
    assert parsed.encoding == encoding
    assert len(parsed.templates) == count
    assert [e.line for e in parsed.errors] == error_lines
    assert all(e.path == name for e in parsed.errors)
    for t in parsed.templates:
        assert t.handle.startswith("RePEc:")
        for field_name, value in t.fields:
            assert field_name == field_name.lower()
            assert value == value.strip() and value
            assert "\r" not in value
            # every double encoding in these files is repaired
            assert not any(marker in value for marker in ("â€", "Ã", "Â", "\x9d", "\\x{"))
        record = to_record(t)
        if t.type in ("article", "paper"):
            assert record.repec_handle == t.handle and record.title
        else:
            assert record is None


def test_archive_templates():
    [awu] = redif("awu_awuarch.rdf").templates
    assert (awu.type, awu.handle, awu.line) == ("archive", "RePEc:awu", 1)
    assert awu.get("name") == "Bulletin of Political Economy"
    assert awu.get("url") == "https://bulletinofpe.github.io/RePEc/RePEc/awu/"
    [cxs] = redif("cxs_cxsarch.rdf").templates
    assert (cxs.type, cxs.handle) == ("archive", "RePEc:cxs")
    assert cxs.get("maintainer-name") == "Roy Havemann"
    assert cxs.get("description").startswith("The Impumelelo Economic Growth Lab at the Bureau")


def test_series_templates_lower_case_template_type_trailing_spaces_and_no_final_newline():
    [journal] = redif("awu_awuseri.rdf").templates
    assert (journal.type, journal.handle) == ("series", "RePEc:awu:journl")
    assert journal.get("type") == "ReDIF-Article"
    assert journal.get("maintainer-name") == "Maria Cristina Barbieri Goes"
    papers, books = redif("epo_eposeri.rdf").templates  # "Template-type:", lower-case t
    assert (papers.handle, papers.get("name"), papers.get("type")) == (
        "RePEc:epo:papers",
        "CEPR Reports and Issue Briefs",
        "ReDIF-Paper",
    )
    # "Provider-Name: Center ... (CEPR) " and "Maintainer-Email: cepr@cepr.net " end in a space
    assert papers.get("provider-name") == "Center for Economic and Policy Research (CEPR)"
    assert papers.get("maintainer-email") == "cepr@cepr.net"
    # the last line of the file has no newline
    assert (books.line, books.handle, books.get("type")) == (9, "RePEc:epo:booksx", "ReDIF-Book")


def test_prova_article_field_by_field():
    parsed = redif("awu_journl_prova.rdf")
    first = parsed.templates[0]  # "Template-Type: ReDIF-Article 1.0 " with a trailing blank
    assert (first.type, first.line) == ("article", 1)
    record = to_record(first)
    assert record.repec_handle == "RePEc:awu:journl:v:17:y:2023:i:2:p:145-148"
    assert record.type == "journal-article"
    assert record.title == "In Memory of Robert Solow: a 2009 interview"
    assert record.authors == (
        Author(  # "Author-Name: Lefteris Tsoulfidis": two words, split
            given="Lefteris",
            family="Tsoulfidis",
            affiliations=(
                "Department of Economics, University of Macedonia, Thessaloniki, Greece",
            ),
        ),
    )
    assert record.container_title == "Bulletin of Political Economy"
    assert (record.volume, record.issue, record.pages) == ("17", "2", "145-148")
    assert record.issued == "2023-12"  # Month: December
    assert record.doi is None  # "DOI: " is empty
    assert record.url == (
        "https://serialsjournals.com/abstract/57264_1-bope2023interviewrobertsolowfirstpaper.pdf"
    )
    assert record.subjects == (
        "Economic Growth",
        "Innovations",
        "Economic Policy",
        "Institutions",
    )
    assert record.abstract.startswith(
        "This note and interview commemorates Robert M. Solow (1924–2023)"
    )
    files = first.clusters_of("file")
    assert [(f.get("url"), f.get("format")) for f in files] == [
        (
            "https://serialsjournals.com/abstract/57264_1-bope2023interviewrobertsolowfirstpaper.pdf",
            "Application/pdf",
        ),
        ("https://www.bulletinofpe.com/lefteris-tsoulfidis-20232", "text/html"),
    ]
    assert first.clusters_of("author")[0].get("email") == "Lnt@uom.edu.gr"


def test_prova_mojibake_is_repaired_to_the_right_accented_text():
    parsed = redif("awu_journl_prova.rdf")
    # "NicolÃ¡s Ã\x81guila", "PolÃ\xadticas PÃºblicas", "PoblaciÃ³n", "EconÃ³micas"
    aguila = template(parsed, "RePEc:awu:journl:v:14:y:2020:i:2:p:153-177")
    assert to_record(aguila).authors == (
        Author(
            given="Nicolás",
            family="Águila",
            affiliations=(
                "Centro Interdisciplinario para el Estudio de Políticas Públicas (CIEPP)",
            ),
        ),
        Author(
            given="Juan M.",
            family="Graña",
            affiliations=(
                "Centro de Estudios sobre Población, Empleo y Desarrollo (CEPED), Instituto de "
                "Investigaciones Económicas, Universidad de Buenos Aires, Argentina",
            ),
        ),
    )
    assert "differentiation between ‘normal’ capitals" in aguila.get("abstract")
    # "â€œ...die Ã¶konomische ... stellen...â€\x9d" over two lines, then "Marburg: ..." wrapped
    # without indentation: a word ReDIF does not define, so it is title text, not a field
    review = template(parsed, "RePEc:awu:journl:v:9:y:2015:i:2:p:171-172")
    assert review.get("title") == (
        "Book Review - Ute Lampalzer, “...die ökonomische Theorie in einen breiteren "
        "philosophischen Rahmen stellen...”. Das Lebenswerk von Louise Sommer (1889-1964). "
        "Marburg: Metropolis Verlag, 2014, 358pp. ISBN 978-3-7316-1113-4"
    )
    assert review.get("marburg") is None
    # "Â§44": a no-break-space lead byte before "§"
    assert "following Sraffa (1960, §44)" in template(
        parsed, "RePEc:awu:journl:v:16:y:2022:i:2:p:77-101"
    ).get("abstract")
    # "UniversitÃ  del Salento": the no-break space of "à" was turned into a plain space
    salento = template(parsed, "RePEc:awu:journl:v:16:y:2022:i:2:p:165-166")
    assert to_record(salento).authors[0].affiliations == ("Università del Salento",)
    washington = template(parsed, "RePEc:awu:journl:v:1:y:2007:i:1:p:43-66")
    assert "the ‘Washington Consensus’ vis-à-vis its" in washington.get("abstract")
    # lines already in correct UTF-8 are left alone
    ricardo = parsed.templates[1]
    assert ricardo.get("title").startswith(
        "On the tendency of the market rate of interest to the natural rate in Ricardo’s analysis"
    )


def test_prova_continuation_lines_without_indentation():
    parsed = redif("awu_journl_prova.rdf")
    ciccone = template(parsed, "RePEc:awu:journl:v:15:y:2021:i:2:p:123-146")
    # "Title:  A note on capital obsolescence (and" + two unindented lines
    assert ciccone.get("title") == (
        "A note on capital obsolescence (and underutilization) in classical and neoclassical "
        "normal positions"
    )
    # "... Aristotle Univer-" + "sity of ...": a split word keeps its hyphen, no space is made up
    port = template(parsed, "RePEc:awu:journl:v:11:y:2017:i:2:p:105-137")
    assert [a.affiliations for a in to_record(port).authors] == [
        ("Member of the Board of Directors, Thessaloniki Port Authority, Thessaloniki, Greece",),
        (
            "Industrial Management Division, Department of Mechanical Engineering, Aristotle "
            "Univer-sity of Thessaloniki, Thessaloniki, Greece",
        ),
    ]
    ridley = template(parsed, "RePEc:awu:journl:v:13:y:2019:i:1:p:85-94")
    assert to_record(ridley).authors[0].affiliations == (
        "Professor, School of Business & Industry, Florida A&M University and Dept. of Scientific "
        "Computing, Florida State University, Tallahassee, Fl.",
    )


def test_prova_field_without_space_and_empty_file_url():
    parsed = redif("awu_journl_prova.rdf")
    # "File-URL:https://serialsjournals.com/abstract/75197_4.pdf"
    mariolis = template(parsed, "RePEc:awu:journl:v:9:y:2015:i:2:p:161-170")
    assert to_record(mariolis).url == "https://serialsjournals.com/abstract/75197_4.pdf"
    # "File-URL: " then "File-Format: text/html": the empty URL opens (and drops) its own file,
    # so the PDF before it does not get a second format
    reviews = template(parsed, "RePEc:awu:journl:v:17:y:2023:i:2:p:213-216")
    assert [f.fields for f in reviews.clusters_of("file")] == [
        (
            ("url", "https://serialsjournals.com/abstract/24126_5-book_review.pdf"),
            ("format", "Application/pdf"),
        )
    ]
    assert reviews.warnings == ()
    assert reviews.get("doi") is None and reviews.get("keywords") is None  # empty fields


def test_prova_broken_and_duplicate_templates_are_reported_and_the_rest_kept():
    parsed = redif("awu_journl_prova.rdf")
    errors = {e.line: e.reason for e in parsed.errors}
    # "late-Type: ReDIF-Article 1.0": the Template-Type line lost its start
    assert errors[2853] == (
        "fields without a Template-Type (the line reads 'late-Type: ReDIF-Article 1.0'): "
        "skipped up to the next Template-Type"
    )
    before = template(parsed, "RePEc:awu:journl:v:3:y:2009:i:2:p:199-227")  # kept, unmixed
    assert before.get_all("title") == ("The Greco-Roman theory of the Stage Evolution of Society",)
    assert [(a.given, a.family) for a in to_record(before).authors] == [
        ("Christos P.", "Baloglou"),
        ("Anastassios D.", "Karayiannis"),
    ]
    assert not [t for t in parsed.templates if t.handle.endswith("v:3:y:2009:i:1:p:1-11")]
    assert template(parsed, "RePEc:awu:journl:v:3:y:2009:i:1:p:13-36").line == 2872
    # the same template twice, and two different articles given one handle
    assert errors[266] == (
        "repeats the template at line 245 (RePEc:awu:journl:v:16:y:2022:i:2:p:103-132): skipped"
    )
    assert errors[3051] == (
        "has the same Handle as the template at line 3032 "
        "(RePEc:awu:journl:v:2:y:2008:i:2:p:165-174): skipped"
    )
    steedman = template(parsed, "RePEc:awu:journl:v:2:y:2008:i:2:p:165-174")
    assert steedman.get("title") == "Marx after Sraffa and the Open Economy"


def test_series_names_give_articles_without_journal_their_container():
    series = series_names(redif("awu_awuseri.rdf").templates)
    assert series == {"repec:awu:journl": "Bulletin of Political Economy"}
    parsed = redif("awu_journl_prova.rdf")
    mariolis = template(parsed, "RePEc:awu:journl:v:9:y:2015:i:2:p:161-170")  # no Journal field
    assert to_record(mariolis).container_title is None
    assert to_record(mariolis, series).container_title == "Bulletin of Political Economy"


def test_old_article_file_stray_line_missing_handle_and_perl_escaped_mojibake():
    parsed = redif("awu_journl_awuarch_at-06f2393.rdf")
    stray, no_handle = parsed.errors
    assert (stray.line, stray.reason) == (
        1,
        "text outside any template (the line reads "
        "'URL: https://bulletinofpe.github.io/RePEc/awu/journl/awuarc…'): "
        "skipped up to the next Template-Type",
    )
    assert (no_handle.line, no_handle.reason) == (466, "template has no Handle: skipped")
    assert str(no_handle) == (
        "awu_journl_awuarch_at-06f2393.rdf:466: template has no Handle: skipped"
    )
    first = parsed.templates[0]
    assert (first.line, first.handle) == (3, "RePEc:awu:journl:v:17:y:2023:i:1:p:1-4")
    record = to_record(first)
    assert record.authors == (  # "Author-Name: Rosa Canelli " ...
        Author(given="Rosa", family="Canelli"),
        Author(given="Matteo", family="Deleidi"),
        # three full words: "Veronese Passarella" is the family name, which the form cannot say
        Author(name="Marco Veronese Passarella"),
    )
    assert record.url is None  # both File-URLs are empty
    assert record.issued == "2023-06"
    assert record.subjects == ("Stock-flow consistent models", "special issue")
    # "â€œstructuralâ€\x{9D}": the undefined byte 0x9D written as a Perl escape
    potential = template(parsed, "RePEc:awu:journl:v:16:y:2022:i:1:p:57-69")
    assert "used to calculate the “structural” budget balances" in potential.get("abstract")
    garegnani = template(parsed, "RePEc:awu:journl:v:15:y:2021:i:2:p:187-207")
    assert garegnani.get("title").startswith(
        "None so deaf as those that will not hear: on Garegnani’s"
    )


def test_cxs_working_papers():
    parsed = redif("cxs_wpaper.rdf")
    assert [t.handle for t in parsed.templates[:3]] == [
        "RePEc:cxs:wpaper:202101",
        "RePEc:cxs:wpaper:202102",
        "RePEc:cxs:wpaper:202201",
    ]
    record = to_record(parsed.templates[0])  # "Handle:" right after "Template-Type:"
    assert record.type == "report"
    assert record.title == "2020 NDP Assessment Report"
    assert record.authors == (Author(name="BER team"),)  # an organisation, not split
    assert record.issued == "2021-04-29"
    assert record.url == (
        "https://www.ber.ac.za/Documents/ViewMode/f11f561c-f10e-4632-bea8-1639a8041e20"
    )
    assert record.subjects == (
        "National Development Plan",
        "South Africa",
        "economic assessment",
        "NDP",
    )
    assert parsed.templates[0].get("classification-jel") == "O55 O43 P16"
    rail = template(parsed, "RePEc:cxs:wpaper:202401")
    assert [(a.given, a.family) for a in to_record(rail).authors] == [
        ("Helanya", "Fourie"),
        ("Katrien", "Smuts"),
        ("Tracey-Lee", "Solomon"),
        ("Annelie", "van Niekerk"),  # the particle starts the family name
    ]
    barometer = template(parsed, "RePEc:cxs:wpaper:202603")
    assert barometer.get("title") == (
        "Reform Barometer – March 2026: Structural reform continues, slow and steady"
    )


def test_cxs_older_version_duplicate_handles_and_compact_dates():
    parsed = redif("cxs_wpaper_at-075172c.rdf")
    assert [str(e) for e in parsed.errors] == [
        "cxs_wpaper_at-075172c.rdf:92: has the same Handle as the template at line 81 "
        "(RePEc:cxs:wpaper:8): skipped",
        "cxs_wpaper_at-075172c.rdf:150: has the same Handle as the template at line 139 "
        "(RePEc:cxs:wpaper:12): skipped",
    ]
    # the first template keeps the handle
    assert template(parsed, "RePEc:cxs:wpaper:8").get("title") == (
        "The National Health Insurance Act: Can we balance access, quality AND cost of healthcare?"
    )
    assert (
        template(parsed, "RePEc:cxs:wpaper:12").get("title") == "A fiscal anchor for South Africa"
    )
    # "Creation-Date: 20250101" is not ISO but unambiguous
    assert to_record(template(parsed, "RePEc:cxs:wpaper:14")).issued == "2025-01-01"
    assert "policy uncertainty, regulatory bottlenecks" in template(
        parsed, "RePEc:cxs:wpaper:19"
    ).get("abstract")


def test_epo_2005_latin1_with_indented_continuation_lines():
    parsed = redif("epo_papers_2005.rdf")
    first = to_record(parsed.templates[0])
    assert first.repec_handle == "RePEc:epo:papers:2005-01"
    assert first.title == (
        "The Crisis in America's Housing: Confronting Myths and Promoting a Balanced Housing Policy"
    )
    # Author-Person is empty for three of them and "ppe220" for one: names stay in order
    assert first.authors == (
        Author(given="Dushaw", family="Hockett"),
        Author(given="Patrick", family="McElwee"),
        Author(given="Danilo", family="Pelletiere", repec_id="ppe220"),
        Author(given="Diane", family="Schwartz"),
    )
    assert parsed.templates[0].clusters_of("author")[2].get("person") == "ppe220"
    assert (first.issued, first.language, first.type) == ("2005-01", "en", "report")
    assert first.url == "http://www.cepr.net/documents/publications/housing_book_2005_01.pdf"
    inequality = template(parsed, "RePEc:epo:papers:2005-14")
    # the repeated Publication-Status, continued over lines, in ISO-8859-1 (é, á)
    assert inequality.get_all("publication-status") == (
        "Published in International Journal of Health Services, vol. 35, no. 4, pp. 655-673.",
        'Published in "Mercados de trabajo y desigualdad en el plano económico en los Estados '
        'Unidos desde finales de la década de los años setenta," in Gerardo Fujii and Santos M. '
        "Ruesga (eds.), El trabajo en un mundo globalizado, Madrid: Ediciones Pirámide, 2004.",
    )
    # " and middle-income" is an indented continuation: the space after "lower-" stays
    assert "bargaining power of lower- and middle-income workers" in inequality.get("abstract")
    # "  only pose a problem": an indent of two spaces is still one space
    assert "the date would only pose a problem" in template(parsed, "RePEc:epo:papers:2005-06").get(
        "abstract"
    )
    # continuation lines of one abstract without indentation
    assert template(parsed, "RePEc:epo:papers:2005-16").get("abstract") == (
        'This paper shows that the "progressive" Social Security benefit cuts endorsed by '
        "President Bush in April 2005 would actually hit middle-income workers hardest."
    )
    scorecard = to_record(template(parsed, "RePEc:epo:papers:2005-30"))
    assert scorecard.relations == (Relation("is-preprint-of", "repec", "RePEc:une:wpaper:31"),)
    assert template(parsed, "RePEc:epo:papers:2005-28").get("note") == (
        "Presented at Sierra Club's 2005 national convention"
    )


def test_epo_2016_crlf_cp1252_and_paragraphs_after_blank_lines():
    parsed = redif("epo_papers_2016.rdf")
    assert [t.handle for t in parsed.templates] == [
        f"RePEc:epo:papers:2016-0{n}" for n in range(1, 8)
    ]
    first = parsed.templates[0]
    # 0x93 and 0x94 are cp1252 quotes
    assert "new air navigation service provider (“ANSP”) could" in first.get("abstract")
    # blank lines inside the abstract separate paragraphs that are not indented
    trials = parsed.templates[1].get("abstract")
    paragraphs = trials.split("\n\n")
    assert [p[:39] for p in paragraphs] == [
        "The current system of financing pharmac",
        "This proposal outlines a plan for a pil",
        "In addition to making potentially impor",
    ]
    assert "households’ desires" in paragraphs[0]  # 0x92
    assert parsed.templates[1].get("length") == "10 pages"  # the field after the paragraphs
    fees = parsed.templates[5].get("abstract")
    assert "overview of these abuses — the many ways" in fees  # 0x97
    trade = to_record(parsed.templates[4])
    assert trade.authors == (
        Author(given="Dean", family="Baker", repec_id="pba441"),
        Author(given="David", family="Rosnick", repec_id="pro314"),
    )
    assert [c.get("person") for c in parsed.templates[4].clusters_of("author")] == [
        "pba441",
        "pro314",
    ]
    outsourcing = parsed.templates[2]  # four authors, then one empty Author-Person
    assert len(outsourcing.clusters_of("author")) == 4
    assert to_record(outsourcing).title.startswith("Working Paper: Domestic Outsourcing")
    assert (to_record(first).issued, parsed.templates[6].get("creation-date")) == (
        "2016-02",
        "2016-06",
    )


# --- encodings, by hand ---


def test_utf8_with_and_without_bom():
    text, encoding = decode_redif(codecs.BOM_UTF8 + (PAPER + "Title: Zürich\n").encode())
    assert encoding == "utf-8-sig"
    assert one(text).get("title") == "Zürich"
    assert decode_redif("Title: Zürich".encode()) == ("Title: Zürich", "utf-8")


def test_bom_left_on_the_first_line_by_a_caller():
    assert one("\ufeff" + PAPER).type == "paper"


def test_cp1252_and_latin1_bytes_where_the_file_is_not_utf8():
    data = b"Title: Caf\xe9 \x93quoted\x94 \x96 Nordm\xf8re \x81\n"
    text, encoding = decode_redif(data)
    assert encoding == "cp1252"
    # 0x81 is undefined in cp1252: it stays the latin-1 control rather than failing the file
    assert text == "Title: Café “quoted” – Nordmøre \x81\n"


def test_mixed_files_are_read_line_by_line():
    text, encoding = decode_redif("Title: São Paulo\n".encode() + b"Note: Gen\xe8ve\n")
    assert encoding == "utf-8+cp1252 (mixed per line)"
    assert text == "Title: São Paulo\nNote: Genève\n"


def test_crlf_and_lone_cr_line_ends():
    text, _ = decode_redif(
        b"Template-Type: ReDIF-Paper 1.0\r\nHandle: RePEc:abc:wpaper:1\rTitle: A\r\n"
    )
    assert text == PAPER + "Title: A\n"
    crlf = one(PAPER.replace("\n", "\r\n") + "Title: A long\r\n  title\r\n")
    assert crlf.get("title") == "A long title"


def test_utf16_with_bom():
    text, encoding = decode_redif((PAPER + "Title: Ελλάδα\n").encode("utf-16"))
    assert encoding == "utf-16"
    assert one(text).get("title") == "Ελλάδα"


@pytest.mark.parametrize(
    ("broken", "repaired"),
    [
        ("Ricardoâ€™s", "Ricardo’s"),
        ("â€œquotedâ€\x9d", "“quoted”"),
        ("â€œquotedâ€\\x{9D}", "“quoted”"),  # the undefined byte as a Perl escape
        ("ManjÃ³n MÃ¼ller", "Manjón Müller"),
        ("Ã\x81guila", "Águila"),  # 0x81: undefined in cp1252, read as latin-1
        ("Ä\x8d and Å¡", "č and š"),
        ("Ã¢â‚¬â„¢", "’"),  # encoded three times
        ("UniversitÃ  del", "Università del"),
        ("vis-Ã -vis", "vis-à-vis"),
    ],
)
def test_double_encoding_is_repaired(broken, repaired):
    text, encoding = decode_redif(f"Title: {broken}\n".encode())
    assert (text, encoding) == (f"Title: {repaired}\n", "utf-8 (repaired double encoding)")


@pytest.mark.parametrize(
    "correct",
    [
        "„groß“ und „Maß“",  # ß + “ would decode as a NKo letter
        "CAFÉ”",  # É + ” would decode as an IPA letter
        "SÃO PAULO, IRMÃ E MÃE",  # capital Ã before a letter or space
        "naïve café ½ € ™ Ω",
        "\\x{9D} alone",
    ],
)
def test_correct_text_is_not_repaired(correct):
    assert decode_redif(f"Title: {correct}\n".encode()) == (f"Title: {correct}\n", "utf-8")


# --- line syntax, by hand ---


def test_continuation_lines():
    t = one(
        PAPER + "Title: A title\n  indented\nunindented\nsplit word Univer-\nsity\n"
        "Abstract: First\n\nSecond paragraph\n  goes on\n\n   Third\nYear: 2020\n"
    )
    assert t.get("title") == "A title indented unindented split word Univer-sity"
    assert t.get("abstract") == "First\n\nSecond paragraph goes on\n\nThird"
    assert t.get("year") == "2020"


def test_field_without_space_trailing_spaces_and_name_case():
    t = one(
        "template-type: redif-ARTICLE 1.0   \nHANDLE:RePEc:abc:journl:v:1:y:2020:i:1:p:1-2   \n"
        "TITLE:No space   \nauthor-NAME:Ada Lovelace \nAuthor-WORKPLACE-name:  Analytical Engine\n"
        "file-url:https://example.org/a.pdf\n"
    )
    assert (t.type, t.handle) == ("article", "RePEc:abc:journl:v:1:y:2020:i:1:p:1-2")
    assert t.fields[0] == ("handle", "RePEc:abc:journl:v:1:y:2020:i:1:p:1-2")
    assert t.get("title") == "No space"
    assert to_record(t).authors == (
        Author(given="Ada", family="Lovelace", affiliations=("Analytical Engine",)),
    )
    assert to_record(t).url == "https://example.org/a.pdf"


def test_blank_lines_inside_a_template():
    t = one(PAPER + "\nTitle: After a blank line\n\n\nAuthor-Name: A. Author\n\nYear: 2001\n")
    assert (t.get("title"), t.get("year")) == ("After a blank line", "2001")
    assert [c.get("name") for c in t.clusters_of("author")] == ["A. Author"]


def test_handle_last_with_blank_lines_before_it():
    text = "Template-Type: ReDIF-Paper 1.0\nTitle: T\n\nHandle: RePEc:abc:wpaper:9\n"
    assert one(text).handle == "RePEc:abc:wpaper:9"


def test_comment_lines_are_skipped():
    t = one("# written by hand\n" + PAPER + "# Title: not this\nTitle: This\n")
    assert t.get_all("title") == ("This",)


def test_only_known_single_words_make_a_field():
    t = one(PAPER + "Title: Essays\nMethods: a continuation\nNote: a field\nX-Custom: kept\n")
    assert t.get("title") == "Essays Methods: a continuation"
    assert (t.get("note"), t.get("x-custom"), t.get("methods")) == ("a field", "kept", None)


def test_clusters_follow_their_key_field():
    t = one(
        PAPER + "Author-Name: First\nFile-URL: https://example.org/1.pdf\nAuthor-Email: f@x.org\n"
        "Author-Workplace-Name: One\nAuthor-Workplace-Name: Two\nAuthor-Name: Second\n"
        "File-Format: application/pdf\nEditor-Name: Ed\nEditor-Email: ed@x.org\n"
    )
    first, second = t.clusters_of("author")
    assert first.fields == (
        ("name", "First"),
        ("email", "f@x.org"),
        ("workplace-name", "One"),
        ("workplace-name", "Two"),
    )
    assert (first.line, second.line) == (3, 8)
    assert second.fields == (("name", "Second"),)
    [file] = t.clusters_of("file")
    assert file.fields == (("url", "https://example.org/1.pdf"), ("format", "application/pdf"))
    [editor] = t.clusters_of("editor")
    assert editor.get("email") == "ed@x.org"
    assert to_record(t).authors[0].affiliations == ("One", "Two")


def test_orphan_cluster_fields_are_kept_as_warnings():
    t = one(PAPER + "Title: T\nFile-Format: application/pdf\nAuthor-Email: who@x.org\n")
    assert t.clusters == ()
    assert t.warnings == (
        "line 4: File-Format with no File-URL before it (ignored)",
        "line 5: Author-Email with no Author-Name before it (ignored)",
    )
    assert t.get("file-format") == "application/pdf"  # still a field of the template


# --- broken templates, by hand ---


def test_template_without_handle_is_reported_and_the_next_kept():
    items = read("Template-Type: ReDIF-Paper 1.0\nTitle: Lost\n\n" + PAPER + "Title: Kept\n")
    assert items[0] == TemplateError("test.rdf", 1, "template has no Handle: skipped")
    assert (items[1].line, items[1].get("title")) == (4, "Kept")


def test_bad_handle_is_reported():
    [error] = read("Template-Type: ReDIF-Paper 1.0\nHandle: RePEc:ab:wpaper:1\n")
    assert error == TemplateError(
        "test.rdf", 1, "Handle 'RePEc:ab:wpaper:1': archive must be 3 characters: skipped"
    )


def test_unknown_template_type_skips_to_the_next_template():
    items = read("Template-Type: Paper\nHandle: RePEc:abc:wpaper:1\n" + PAPER)
    assert items[0] == TemplateError("test.rdf", 1, "unknown template type 'Paper': skipped")
    assert items[1].line == 3 and len(items) == 2


def test_fields_that_lost_their_template_type_are_reported():
    items = read(
        PAPER + "Title: One\n\nlate-Type: ReDIF-Paper 1.0\nHandle: RePEc:abc:wpaper:2\n"
        "Title: Two\n\n" + PAPER.replace(":1", ":3") + "Title: Three\n"
    )
    assert [type(i).__name__ for i in items] == ["Template", "TemplateError", "Template"]
    assert items[0].get_all("title") == ("One",)
    assert items[1].line == 5
    assert items[2].get("title") == "Three"


def test_two_handles_in_one_template_is_an_error():
    [error] = read(PAPER + "Title: One\nHandle: RePEc:abc:wpaper:2\n")
    assert error.line == 1
    assert error.reason == (
        "template has more than one Handle (lines 2, 4); is a Template-Type line missing? skipped"
    )


def test_duplicate_handles_keep_the_first_template():
    items = read(PAPER + "Title: First\n\n" + PAPER + "Title: First\n\n" + PAPER + "Title: Other\n")
    assert items[0].get("title") == "First"
    assert [i.reason for i in items[1:]] == [
        "repeats the template at line 1 (RePEc:abc:wpaper:1): skipped",
        "has the same Handle as the template at line 1 (RePEc:abc:wpaper:1): skipped",
    ]


def test_handles_of_series_archives_and_persons():
    items = read(
        "Template-Type: ReDIF-Archive 1.0\nHandle: repec:abc\n\n"
        "Template-Type: ReDIF-Series 1.0\nHandle: RePEc:abc:wpaper\n\n"
        "Template-Type: ReDIF-Person 1.0\nName-Full: KRICHEL, THOMAS\n"
        "Handle: RePEc:per:1965-06-05:THOMAS_KRICHEL\n"
    )
    assert [(t.type, t.handle) for t in items] == [
        ("archive", "RePEc:abc"),
        ("series", "RePEc:abc:wpaper"),
        ("person", "RePEc:per:1965-06-05:THOMAS_KRICHEL"),
    ]
    assert [to_record(t) for t in items] == [None, None, None]


# --- templates -> records ---


@pytest.mark.parametrize(
    ("template_type", "record_type"),
    [
        ("Article", "journal-article"),
        ("Paper", "report"),
        ("Chapter", "book-chapter"),
        ("Book", "book"),
        ("Software", "software"),
    ],
)
def test_record_types(template_type, record_type):
    t = one(f"Template-Type: ReDIF-{template_type} 1.0\nHandle: RePEc:abc:xyzxyz:1\nTitle: T\n")
    assert to_record(t).type == record_type


def test_chapter_record():
    t = one(
        "Template-Type: ReDIF-Chapter 1.0\nHandle: RePEc:abc:chapts:7\nTitle: A Chapter\n"
        "Author-Name: Jane Doe\nAuthor-X-Name-First: Jane\nAuthor-X-Name-Last: Doe\n"
        "Editor-Name: Ed Itor\nBook-Title: The Book\nPublisher-Name: Big Press\n"
        "Start-Page: 11\nEnd-Page: 42\nYear: 1999\nMonth: Sept.\nPaper-Handle: RePEc:abc:wpaper:5\n"
    )
    record = to_record(t)
    assert record.authors == (Author(given="Jane", family="Doe"),)  # editors are not authors
    assert (record.container_title, record.publisher) == ("The Book", "Big Press")
    assert (record.pages, record.issued) == ("11-42", "1999-09")
    assert record.relations == (Relation("has-preprint", "repec", "RePEc:abc:wpaper:5"),)


@pytest.mark.parametrize(
    ("dates", "issued"),
    [
        ("Year: 2020\nMonth: 3\n", "2020-03"),
        ("Year: 2020\nMonth: Spring\n", "2020"),
        ("Year: 2020\nCreation-Date: 2019-01-02\n", "2020"),
        ("Creation-Date: 2019-01-02\n", "2019-01-02"),
        ("Creation-Date: 199603\n", "1996-03"),
        ("Creation-Date: 2019-02-30\n", "2019-02"),
        ("Creation-Date: Juillet 1999\n", None),
    ],
)
def test_issued_dates(dates, issued):
    assert to_record(one(PAPER + dates)).issued == issued


def test_keywords_are_split_on_commas_and_semicolons():
    t = one(PAPER + "Keywords: growth; Trade, growth ,, inflation\nKeywords: trade\n")
    assert to_record(t).subjects == ("growth", "Trade", "inflation")


@pytest.mark.parametrize(
    ("fields", "doi"),
    [
        ("DOI: 10.1016/j.econmod.2020.01.001\n", "10.1016/j.econmod.2020.01.001"),
        ("DOI: https://doi.org/10.1007/S00181-020-01234-5\n", "10.1007/S00181-020-01234-5"),
        ("Note: Published as doi:10.1093/oep/gpz001.\n", "10.1093/oep/gpz001"),
        (
            "Note: see https://doi.org/10.1111/ecca.12345 for the\n  journal version\n",
            "10.1111/ecca.12345",
        ),
        ("File-URL: https://dx.doi.org/10.5555/abc\nFile-Format: text/html\n", "10.5555/abc"),
        ("File-URL: https://example.org/10.5555/abc.pdf\n", None),
        ("DOI: n/a\nNote: 10.5555/from-note\n", "10.5555/from-note"),
        ("DOI: 10.1/first\nNote: doi:10.2/second\n", "10.1/first"),
        ("DOI:\n", None),
    ],
)
def test_doi_is_found_in_doi_note_or_a_doi_org_file_url(fields, doi):
    t = one(PAPER + fields)
    assert doi_of(t) == doi
    assert to_record(t).doi == doi


# --- properties ---

FRAGMENTS = st.sampled_from(
    [
        "Template-Type: ReDIF-Article 1.0",
        "Template-Type: ReDIF-Paper",
        "Template-Type:",
        "Handle: RePEc:abc:wpaper:1",
        "Handle: RePEc:abc:wpaper:2",
        "Handle: RePEc",
        "Handle:",
        "Author-Name: A",
        "Author-Email: e",
        "File-URL: https://doi.org/10.1/x",
        "File-Format: application/pdf",
        "Year: 2020",
        "Month: May",
        "Creation-Date: 20209",
        "Pages: 1-2",
        "DOI: 10.1/x",
        "Note: doi:10.",
        "Keywords: a;b",
        "Article-Handle: RePEc:",
        "  continued",
        "wrapped-",
        "#",
        "",
        " ",
        "\ufeff",
    ]
)


@given(st.lists(st.one_of(FRAGMENTS, st.text()), max_size=30))
def test_iter_templates_never_raises(lines):
    for item in iter_templates([line + "\n" for line in lines]):
        assert isinstance(item, (Template, TemplateError))
        if isinstance(item, Template):
            to_record(item)
            doi_of(item)


@given(st.binary(max_size=300))
def test_decode_never_raises(data):
    text, encoding = decode_redif(data)
    assert "\r" not in text and encoding
    parse_file(data, "random.rdf")


FIELD_NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,8}-[A-Za-z0-9-]{0,10}", fullmatch=True).filter(
    lambda name: name.lower() != "template-type"
)
VALUES = (
    st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=40)
    .map(str.strip)
    .filter(bool)
)


@given(
    st.sampled_from(["Article", "Paper", "Chapter", "Book", "Software", "Series"]),
    st.lists(st.tuples(FIELD_NAMES, VALUES), max_size=12),
    st.booleans(),
    st.booleans(),
)
def test_a_well_formed_template_round_trips_its_fields(kind, fields, crlf, no_space):
    handle = "RePEc:abc:series:item1" if kind != "Series" else "RePEc:abc:series"
    separator = ":" if no_space else ": "
    end = "\r\n" if crlf else "\n"
    lines = [f"Template-Type: ReDIF-{kind} 1.0", f"Handle{separator}{handle}"]
    lines += [f"{name}{separator}{value}" for name, value in fields]
    [parsed] = iter_templates([line + end for line in lines])
    assert parsed.type == kind.lower()
    assert parsed.handle == handle
    assert parsed.fields == (("handle", handle), *((n.lower(), v) for n, v in fields))


def _decoded_line_by_line(data: bytes) -> tuple[str, str]:
    """decode_redif as it was before issue 19: every line through the repair, one at a time."""
    import re

    from harvester.sources import redif

    text, encoding = redif._decoded(data)
    lines = re.split(r"\r\n|\r|\n", text)
    repaired = [redif._repair_line(line) for line in lines]
    return "\n".join(repaired), encoding + (
        " (repaired double encoding)" if repaired != lines else ""
    )


#: Texts where a repair over the whole text could differ from one line at a time, if it were
#: wrong: a lost no-break space at a line's start after a lower-case letter ending the line
#: above, mojibake at line ends, text encoded three times next to a line that is right.
_AROUND_LINE_ENDS = [
    "Universit\nÃ  del Piemonte\r\nvis-Ã -vis",
    "CafÃ©\nCafÃƒÂ©\n\nCafé\rgroß“",
    "â€™\nâ€\n™ \\x{C3}\\x{A9}\n\\x{C3}\n\\x{A9}",
    "Ã\n©",
]


@pytest.mark.usefixtures("fixtures_dir")
@pytest.mark.parametrize("encoding", ["utf-8", "cp1252", "utf-8-sig"])
def test_the_whole_text_is_repaired_as_each_line_was(encoding):
    datas = [text.encode(encoding, "replace") for text in _AROUND_LINE_ENDS]
    datas += [path.read_bytes() for path in sorted((FIXTURES / "redif").glob("*.rdf"))]
    datas.append(b"\n".join(datas))  # every kind in one file, cp1252 lines among UTF-8 ones
    for data in datas:
        assert decode_redif(data) == _decoded_line_by_line(data), data[:60]
