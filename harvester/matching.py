"""Score a Crossref candidate against a local citation that has no DOI (issue 9).

Pure functions only: no I/O, no network. Precision comes before recall, because a wrong DOI
link spreads into every later merge while a missing one merely waits for review. So the title
must agree closely, something else (first author, year or container) must agree too, and a
few hard vetoes (far-off year, no author in common, a notice about the work rather than the
work) keep a candidate out of "accept" however well the rest scores. Crossref's own `score`
is deliberately not an input: it ranks, it does not say whether the top hit is right.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

from harvester.models import Author, Record

#: Chosen on the labelled evaluation in tests/test_matching.py: no decoy reaches 0.9.
ACCEPT = 0.9
REVIEW = 0.7
#: Below this title similarity a candidate is never accepted, whatever else agrees.
MIN_ACCEPT_TITLE = 0.8
#: Below this it is not even worth a reviewer's time.
MIN_REVIEW_TITLE = 0.65
#: A dropped subtitle is likely but not certain: the work may have a sibling with another subtitle.
SUBTITLE_DROPPED = 0.95

#: A candidate whose title starts so is a notice or part of a work, not the work itself.
PART_PREFIXES = (
    "figure", "table", "supplementary", "correction", "corrigendum", "erratum", "retraction",
    "expression of concern", "addendum", "review of", "reply to", "response to", "author response",
    "comment on", "decision letter",
)  # fmt: skip
PART_TYPES = frozenset({"component", "peer-review"})

_TAG = re.compile(r"<[^>]+>")
_APOSTROPHE = re.compile(r"['’ʼ`]")
_NON_WORD = re.compile(r"[\W_]+")
_SUBTITLE_SPLIT = re.compile(r":|\s[-–—]\s|[.?!]\s")
_PARTICLES = frozenset({
    "van", "von", "der", "den", "de", "del", "della", "da", "di", "du", "dos", "das", "la", "le",
    "ten", "ter", "bin", "al",
})  # fmt: skip
_ORG_WORDS = frozenset({
    "bank", "university", "institute", "institut", "organization", "organisation", "group",
    "consortium", "committee", "association", "society", "council", "agency", "department",
    "ministry", "office", "foundation", "centre", "center", "network", "collaboration", "team",
    "project", "commission", "board", "federation", "fund", "inc", "ltd",
})  # fmt: skip
_CONTAINER_STOP = frozenset({"of", "the", "and", "for", "in", "on", "der", "die", "das"})


@dataclass(frozen=True)
class Citation:
    """What a local record says about a work: the thing to find a DOI for."""

    title: str
    authors: tuple[
        str, ...
    ] = ()  # as written: "Smith, J.", "John Smith", "J Smith", "{World Bank}"
    year: int | None = None
    container: str | None = None  # journal, series or book title


@dataclass(frozen=True)
class Score:
    """How well a candidate fits a citation. A part is None when either side lacks it: unknown
    is neutral, never agreement. `vetoes` name the rules that bar acceptance."""

    total: float
    title: float
    authors: float | None
    year: float | None
    container: float | None
    reasons: tuple[str, ...]
    vetoes: tuple[str, ...] = ()


def _fold(text: str) -> str:
    """Casefold and drop diacritics, so "Mühlen" and "Muhlen" compare equal."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=4096)
def normalise_title(text: str) -> str:
    """The title as people would recognise it whatever the markup, case, accents or punctuation."""
    text = html.unescape(_TAG.sub(" ", text))
    text = _APOSTROPHE.sub("", _fold(text))  # "Reye's" and "Reyes" are typed interchangeably
    return " ".join(_NON_WORD.sub(" ", text).split())


def _ratio(a: str, b: str) -> float:
    """Character similarity that also forgives reordered words."""
    plain = SequenceMatcher(None, a, b).ratio()
    ordered = SequenceMatcher(None, " ".join(sorted(a.split())), " ".join(sorted(b.split())))
    return max(plain, ordered.ratio())


def _word_overlap(a: str, b: str) -> float:
    """Share of words found on both sides, a word with a small typo counting as found. Keeps
    short titles that share most letters but not their key word ("Tabs" vs "Dialog") apart."""
    left, right = Counter(a.split()), Counter(b.split())
    total = left.total() + right.total()
    exact = left & right
    found = exact.total()
    unmatched = list((right - exact).elements())
    for word in (left - exact).elements():
        match = next((w for w in unmatched if _typo_of(word, w)), None)
        if match is not None:
            unmatched.remove(match)
            found += 1
    return 2 * found / total if total else 0.0


@lru_cache(maxsize=65536)
def _typo_of(a: str, b: str) -> bool:
    """A slip of the keyboard: long-enough words of about the same length, mostly the same letters."""
    if len(a) <= 3 or abs(len(a) - len(b)) > 2:
        return False
    matcher = SequenceMatcher(None, a, b)
    return matcher.quick_ratio() >= 0.8 and matcher.ratio() >= 0.8


def _similar(a: str, b: str) -> float:
    """Both measures must agree: the lower one wins. Titles sharing under half their words are
    different works, and the costlier letter comparison is skipped."""
    na, nb = normalise_title(a), normalise_title(b)
    if not na or not nb:
        return 0.0
    if na == nb:
        return 1.0
    overlap = _word_overlap(na, nb)
    return overlap if overlap < 0.5 else min(_ratio(na, nb), overlap)


def _main_title(text: str) -> str | None:
    """The part before a subtitle, if there is one long enough (3+ words) to identify a work."""
    parts = _SUBTITLE_SPLIT.split(text, maxsplit=1)
    return parts[0] if len(parts) == 2 and len(normalise_title(parts[0]).split()) >= 3 else None


def _title_match(a: str, b: str) -> tuple[float, str]:
    """Similarity of two titles and a note on why. One side's dropping the other's subtitle is
    tolerated (capped at SUBTITLE_DROPPED); both having different subtitles is not."""
    best, note = _similar(a, b), ""
    for short, full in ((a, b), (b, a)):
        main = _main_title(full)
        if main is not None:
            dropped = SUBTITLE_DROPPED * _similar(short, main)
            if dropped > best:
                best, note = dropped, "subtitle dropped"
    if not note and best < 1.0:
        note = "typo or wording differs"
    return best, note


def title_similarity(a: str, b: str) -> float:
    """0..1 on normalised titles, tolerating a dropped subtitle and small typos."""
    return _title_match(a, b)[0]


def _surname(name: str) -> str | None:
    """One family name from free text; particles kept ("van der berg"), organisations whole."""
    name = name.strip()
    if name.startswith("{") and name.endswith("}"):
        return normalise_title(name) or None
    if not name:
        return None
    if "," in name:
        return normalise_title(name.split(",", 1)[0]) or None
    tokens = normalise_title(name).split()
    if not tokens or set(tokens) & _ORG_WORDS:
        return " ".join(tokens) or None
    raw = name.replace(".", ". ").split()
    first, last = (t.replace(".", "") for t in (raw[0], raw[-1]))
    if (
        len(raw) > 1
        and _is_initials(raw[-1])
        and (not _is_initials(raw[0]) or len(first) > len(last))
    ):
        while len(raw) > 1 and _is_initials(raw[-1]):  # "Smith J", "Smith J H", "LEE JH"
            raw.pop()
        return normalise_title(" ".join(raw)) or None
    start = len(tokens) - 1
    while start > 0 and tokens[start - 1] in _PARTICLES:
        start -= 1
    return " ".join(tokens[start:])


def _is_initials(token: str) -> bool:
    """ "J.", "JH", "J.-P." are initials; "Xu" and "Li" are surnames."""
    letters = token.replace(".", "").replace("-", "")
    return bool(letters) and (token.endswith(".") or (len(letters) <= 3 and letters.isupper()))


def surnames(authors: Iterable[str]) -> list[str]:
    """Normalised family names in byline order, from names as people write them."""
    return [s for s in (_surname(a) for a in authors) if s]


def _record_surnames(authors: Sequence[Author]) -> list[str]:
    return [
        s
        for a in authors
        for s in ([normalise_title(a.family)] if a.family else surnames([a.name or ""]))
        if s
    ]


def _same_surname(a: str, b: str) -> bool:
    """Equal, or equal on the last word: "van der berg" matches "berg", "donis gonzalez" "gonzalez"."""
    return a == b or a.split()[-1] == b.split()[-1]


def _year(issued: str | None) -> int | None:
    return int(issued[:4]) if issued and issued[:4].isdigit() else None


def _container_similarity(a: str, b: str) -> float:
    """1 for the same name; 0.9 when one is the other abbreviated word by word ("J Clin Pathol")."""
    left = [w for w in normalise_title(a).split() if w not in _CONTAINER_STOP]
    right = [w for w in normalise_title(b).split() if w not in _CONTAINER_STOP]
    if left == right:
        return 1.0 if left else 0.0
    if len(left) == len(right) and all(
        x.startswith(y) or y.startswith(x) for x, y in zip(left, right, strict=True)
    ):
        return 0.9
    return SequenceMatcher(None, " ".join(left), " ".join(right)).ratio()


def _record_title(record: Record) -> str:
    """Title plus subtitle, unless the subtitle only repeats (part of) the title."""
    title, subtitle = record.title or "", record.subtitle or ""
    if subtitle and normalise_title(subtitle) not in normalise_title(title):
        return f"{title}: {subtitle}"
    return title


def score(citation: Citation, candidate: Record) -> Score:
    """Score one candidate. Title weighs 0.6; the known other parts share 0.4 equally."""
    reasons: list[str] = []
    vetoes: list[str] = []
    full_title = _record_title(candidate)
    title, note = _title_match(citation.title, full_title)
    reasons.append(f"title {title:.2f}" + (f" ({note})" if note else ""))

    cited_title = normalise_title(citation.title)
    cand_title = normalise_title(full_title)
    prefix = next((p for p in PART_PREFIXES if cand_title.startswith(p)), None)
    if prefix is not None:
        part = not cited_title.startswith(prefix)  # "Correction: X" matches only "Correction: X"
    else:
        cited_part = any(cited_title.startswith(p) for p in PART_PREFIXES)
        part = candidate.type in PART_TYPES and not cited_part
    if part:
        vetoes.append(f"candidate is a part or notice ({candidate.type}: {full_title[:40]!r})")

    authors: float | None = None
    ours, theirs = surnames(citation.authors), _record_surnames(candidate.authors)
    if ours and theirs:
        if _same_surname(ours[0], theirs[0]):
            authors = 1.0
            reasons.append("first author surname matches")
        else:
            shared = sum(any(_same_surname(o, t) for t in theirs) for o in ours)
            authors = 0.7 * shared / len(ours)
            reasons.append(f"{shared} of {len(ours)} author surnames found")
            if not shared:
                vetoes.append("no author surname in common")

    year: float | None = None
    theirs_year = _year(candidate.issued or candidate.published_print or candidate.published_online)
    if citation.year is not None and theirs_year is not None:
        gap = abs(citation.year - theirs_year)
        year = {0: 1.0, 1: 0.75, 2: 0.4}.get(gap, 0.0)
        reasons.append("year matches" if gap == 0 else f"year off by {gap}")
        if gap > 2:
            vetoes.append(f"year off by {gap}")

    container: float | None = None
    if citation.container and candidate.container_title:
        container = _container_similarity(citation.container, candidate.container_title)
        reasons.append(f"container {container:.2f}")

    others = [p for p in (authors, year, container) if p is not None]
    total = 0.6 * title + 0.4 * (sum(others) / len(others) if others else 0.5)
    return Score(round(total, 4), title, authors, year, container, tuple(reasons), tuple(vetoes))


def _agreeing(s: Score) -> int:
    """Signals besides the title that positively agree (unknown ones do not count)."""
    return sum(
        p is not None and p >= bar
        for p, bar in ((s.authors, 1.0), (s.year, 0.75), (s.container, 0.8))
    )


def decide(s: Score, accept: float = ACCEPT, review: float = REVIEW) -> str:
    """ "accept", "review" or "reject". A part-of-work candidate or two vetoes reject; one veto,
    a title under MIN_ACCEPT_TITLE or nothing else agreeing caps the answer at review."""
    if any(v.startswith("candidate is a part") for v in s.vetoes) or len(s.vetoes) >= 2:
        return "reject"
    if s.total >= accept and s.title >= MIN_ACCEPT_TITLE and not s.vetoes and _agreeing(s):
        return "accept"
    return "review" if s.total >= review and s.title >= MIN_REVIEW_TITLE else "reject"


def choose(
    scores: Sequence[Score], accept: float = ACCEPT, review: float = REVIEW
) -> tuple[int | None, str]:
    """The one candidate to link, as (index, decision). Two accepted candidates (Crossref holds
    duplicate DOIs for some works, and editions share titles) are a question for a reviewer."""
    ranked = sorted(range(len(scores)), key=lambda i: scores[i].total, reverse=True)
    decisions = {i: decide(scores[i], accept, review) for i in ranked}
    accepted = [i for i in ranked if decisions[i] == "accept"]
    if len(accepted) == 1:
        return accepted[0], "accept"
    if accepted or any(d == "review" for d in decisions.values()):
        return next(i for i in ranked if decisions[i] != "reject"), "review"
    return None, "reject"


# --- a person's name against a byline's (issue 21: the institution feed) ---

#: The least `name_match` at which an author of an institution's work is offered to a person of
#: that institution as a claim: the family name and the first initial agree at least.
NAME_MATCH_MIN = 0.9


def _given_names(name: str, family: str) -> list[str]:
    """The normalised given names of `name` ("Smith, John A." or "John A. Smith", "J.A. Smith"),
    initials split apart ("J.A." -> "j", "a"): what is left once its family name is taken off."""
    if "," in name:
        given = name.split(",", 1)[1]
    else:
        tokens = name.replace(".", ". ").split()
        words = normalise_title(name).split()
        # The family name is the last words, unless written first with initials after it.
        if words[-len(family.split()) :] == family.split():
            given = " ".join(tokens[: len(tokens) - len(family.split())])
        else:
            given = " ".join(tokens[len(family.split()) :])
    return normalise_title(given.replace(".", " ").replace("-", " ")).split()


def name_match(person: str, author: str) -> float:
    """How well a byline's `author` name fits the `person` followed (0..1, pure), on the family
    name and the given names or their initials, accents and case aside: 1.0 the same names;
    0.95 the same family name and first name, the other given names missing on one side; 0.92
    the same family name with the first initial agreeing ("J. W. Mearman" and "Joseph
    Mearman"); 0.6 the family name alone (no given name on one side); 0 for another family name
    or another first initial. Matched on the last word only ("van der Berg" and "Berg"), 0.05
    less. Not proof of authorship: a claim made on it waits for a person to accept it."""
    family_a, family_b = _surname(person), _surname(author)
    if not family_a or not family_b or not _same_surname(family_a, family_b):
        return 0.0
    penalty = 0.0 if family_a == family_b else 0.05
    given_a, given_b = _given_names(person, family_a), _given_names(author, family_b)
    if not given_a or not given_b:
        return 0.6 - penalty
    if given_a[0][0] != given_b[0][0]:
        return 0.0
    if given_a == given_b:
        return 1.0 - penalty
    first_whole = len(given_a[0]) > 1 and len(given_b[0]) > 1
    if first_whole and given_a[0] != given_b[0]:
        return 0.0  # "John" and "Jane": another person of the same initial
    if first_whole:
        return 0.95 - penalty
    return 0.92 - penalty
