"""Email addresses written to fool a scraper ("john dot smith at gmail dot com", "amy75 [at] yahoo(dot)com"),
and street addresses: house number, street name and type in many languages, and the postcode and town after.
"""

from __future__ import annotations

import re

from hfit_dagster.masking.recognizers.findings import Finding
from hfit_dagster.masking.recognizers.prefilter import TOKEN, folds_oddly, holds_any

_AT = r"(?:\s*@\s*|\s*[\[(<{]\s*(?:at|@)\s*[\])>}]\s*|\s+at\s+|\s+AT\s+)"
_DOT = r"(?:\s*[\[(<{]\s*dot\s*[\])>}]\s*|\s+dot\s+|\s+DOT\s+|\.)"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,30}[A-Za-z0-9])?"
_OBFUSCATED_EMAIL = re.compile(
    rf"(?<![\w.])(?P<local>[\w+\-]{{1,40}}(?:{_DOT}[\w+\-]{{1,40}}){{0,3}}){_AT}"
    rf"(?P<domain>{_LABEL}(?:{_DOT}{_LABEL}){{0,3}}{_DOT}(?P<tld>[A-Za-z]{{2,6}}))(?![\w])",
    re.IGNORECASE,
)
# every match holds one of these (the "@", a bracketed "at", an "at" between spaces): a text without is skipped
_AT_ANCHOR = re.compile(r"@|[\[(<{]\s*at|\sat\s", re.IGNORECASE)
_MAIL_DOMAINS = frozenset({
    "gmail", "googlemail", "yahoo", "hotmail", "outlook", "live", "msn", "icloud", "me", "aol", "gmx", "web", "mail",
    "proton", "protonmail", "yandex", "qq", "163", "126", "naver", "orange", "free", "wanadoo", "libero", "t-online",
    "seznam", "wp", "onet", "o2", "interia", "rediffmail", "zoho", "fastmail", "hey", "tutanota", "bigpond",
})  # fmt: skip
_TLDS = frozenset({
    "com", "net", "org", "info", "biz", "io", "co", "uk", "de", "fr", "es", "it", "nl", "be", "ch", "at", "se", "no",
    "dk", "fi", "pl", "cz", "ru", "ua", "in", "cn", "jp", "kr", "br", "mx", "au", "nz", "ca", "us", "eu", "ie", "pt",
    "gr", "tr", "ro", "hu", "sk", "za", "edu", "gov", "mil", "int", "me", "tv", "ai", "dev", "app", "email",
})  # fmt: skip


def find_obfuscated_emails(text: str, plain: bool = False) -> list[Finding]:
    """Addresses with spelt-out or bracketed '@' and '.'; a plain " at " needs a spelt-out dot or a mail
    provider's domain, so "arrived at 10.30" or "at home.com" in prose are left alone. A text without an
    ``_AT_ANCHOR`` is skipped unless ``plain`` (the reference)."""
    out: list[Finding] = []
    if not plain and _AT_ANCHOR.search(text) is None:
        return out
    for m in _OBFUSCATED_EMAIL.finditer(text):
        whole = m.group()
        if "@" in whole and not re.search(r"\s|\[|\(|dot", whole, re.IGNORECASE):
            continue  # a plain address: the email recognizer's
        if m.group("tld").lower() not in _TLDS:
            continue
        spelt_dot = re.search(r"dot", whole, re.IGNORECASE) is not None
        marked_at = re.search(r"[\[(<{@]|\sAT\s", whole) is not None
        domain = re.split(_DOT, m.group("domain"))[0].lower()
        if not (spelt_dot or marked_at or domain in _MAIL_DOMAINS):
            continue
        out.append(Finding("EMAIL_ADDRESS", m.start(), m.end(), 0.85))
    return out


_STREET_TYPES = (
    r"street|st|road|rd|avenue|ave|av|lane|ln|drive|dr|boulevard|blvd|way|court|ct|place|pl|terrace|close|square"
    r"|sq|parkway|pkwy|highway|hwy|crescent|cres|grove|gardens|row|mews|hill|park|walk|circle|cir|trail|plaza"
    r"|center|centre|path|view|ridge|loop|alley"
    r"|stra(?:ss|ß)e|str|weg|gasse|allee|platz|ring|damm|ufer|chaussee|steig|pfad|markt"
    r"|gatan|gata|vägen|väg|gränd|torget|katu|tie|kuja|polku|vej|gade|veien|vegen|vollen|gata|stien|plass"
    r"|straat|laan|plein|gracht|kade|dreef|hof|singel|steeg|dijk"
    r"|ulica|ul|aleja|al|plac|utca|út|tér|ulice|náměstí|třída|cesta|strada|bulevardul|calea|drumul|șoseaua|aleea"
    r"|caddesi|cad|sokak|sk|bulvarı|mahallesi|rue|chemin|impasse|allée|allé|quai|cours|via|viale|piazza|corso|vicolo"
    r"|marg|chowk|nagar|ganj|gali|zila"
    r"|largo|calle|carrera|avenida|paseo|plaza|camino|carretera|rua|travessa|praça|alameda|estrada|praia|rodovia"
    r"|ул|улица|пр|проспект|пер|переулок|бул|бульвар|ш|шоссе|пл|площадь|наб|набережная|вул|вулиця|οδός|λεωφόρος"
)
_COMPOUND_TYPES = (
    r"gatan|gata|vägen|väg|katu|tie|kuja|polku|vej|gade|veien|vegen|vollen|stien|straße|strasse|str|weg|gasse|allee"
    r"|platz|ring|damm|ufer|straat|laan|plein|gracht|kade|dreef|hof|singel|steeg|dijk|utca|út"
)
_NUMBER = r"(?<![\w\-/.:])\d{1,5}(?:[ ]?[A-Za-z](?![\w]))?(?:[/\-]\d{1,4}[A-Za-z]?)?(?![\d:]|\.\d)"
_NAME = r"[^\W\d_][\w'’.\-]*"
_PROPER = r"(?-i:[A-ZÀ-ÞА-ЯΑ-Ω])[\w'’\-]*"  # a capitalised word
_STREET = re.compile(
    rf"(?<![\w])(?:"
    rf"{_NUMBER},?\s+(?:{_NAME}\s+){{0,3}}(?:{_STREET_TYPES})(?![\w])\.?"  # 221B Baker Street, 12 rue ..., 5 ул.
    rf"(?:[ \t]+(?:(?-i:de|du|des|la|le|del|della|di|da|do|dos|das|von|van)[ \t]+)?{_PROPER}){{0,3}}"  # rue de Masse
    rf"|(?:{_STREET_TYPES})\.?\s+(?:{_NAME}\s+){{0,3}}?{_NAME},?\s+(?:n[ro°º]\.?\s*)?{_NUMBER}"  # rue X 12
    rf"|(?:{_NAME}\s+){{1,3}}(?:{_STREET_TYPES})\.?,?\s+(?:n[ro°º]\.?\s*)?{_NUMBER}"  # Drumul Ene Nr. 344
    rf")",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")
# the street suffixes of the US Postal Service (Publication 28, appendix C1), written in Title case after a house
# number and one to three capitalised words ("981 Ross Mission", "719 Medina Locks"): in capitals only, so that
# "3 more tests pass" stays prose
_USPS_SUFFIXES = (
    "Alley Annex Arcade Avenue Bayou Beach Bend Bluffs? Bottom Boulevard Branch Bridge Brooks? Burgs? "
    "Bypass Camp Canyon Cape Causeway Centers? Circles? Cliffs? Club Commons? Corners? Course Courts? "
    "Coves? Creek Crescent Crest Crossing Crossroads? Curve Dale Dam Divide Drives? Estates? Expressway "
    "Extensions? Falls? Ferry Fields? Flats? Fords? Forest Forges? Forks? Fort Freeway Gardens? Gateway "
    "Glens? Greens? Groves? Harbors? Haven Heights Highway Hills? Hollow Inlet Islands? Isle Junctions? "
    "Keys? Knolls? Lakes? Land Landing Lane Lights? Loaf Locks? Lodge Loop Mall Manors? Meadows? Mews "
    "Mills? Mission Motorway Mount Mountains? Neck Orchard Oval Overpass Parks? Parkways? Pass Passage "
    "Path Pike Pines? Place Plains? Plaza Points? Ports? Prairie Radial Ramp Ranch Rapids? Rest Ridges? "
    "River Roads? Route Row Rue Run Shoals? Shores? Skyway Springs? Spurs? Squares? Station Stravenue "
    "Stream Streets? Summit Terrace Throughway Trace Track Trafficway Trail Trailer Tunnel Turnpike "
    "Underpass Unions? Valleys? Viaduct Views? Villages? Ville Vista Walks? Wall Ways? Wells?"
).replace(" ", "|")
_USPS_STREET = re.compile(rf"(?<![\w\-/.:])\d{{1,5}}[A-Z]?,?\s+(?:[A-Z][a-z'’\-]+ ){{0,2}}[A-Z][a-z'’\-]+ "
                          rf"(?:{_USPS_SUFFIXES})(?![\w\-])\.?")
# a compound street name of hyphen-joined words ("Franco-Meister-Platz 9537", "Svetlana-Mosemann-Ring 1-1")
_HYPHENATED_STREET = re.compile(rf"(?<![\w\-])(?:[^\W\d_]+-)+(?:{_COMPOUND_TYPES})\.?,?\s+{_NUMBER}", re.IGNORECASE)
_STREET_WORD = re.compile(rf"(?<![\w])(?:{_STREET_TYPES})(?![\w])", re.IGNORECASE)
_COMPOUND_STREET = re.compile(rf"(?<![\w])[^\W\d_]{{2,}}(?:{_COMPOUND_TYPES})\.?,?\s+{_NUMBER}", re.IGNORECASE)
# the same, as words and word endings looked up per word of the text (prefilter.py); the dotless i of "bulvarı"
# matches an "i" too
_STREET_TYPE_WORDS = frozenset(w for alt in _STREET_TYPES.replace("stra(?:ss|ß)e", "strasse|straße").split("|")
                               for w in (alt, alt.replace("ı", "i")))
_COMPOUND_ENDINGS = tuple(_COMPOUND_TYPES.split("|"))
# what may follow a street: apartment, then postcode and town (same line, or the next)
_TAIL = re.compile(
    r"(?:,?\s*(?:apt|apartment|suite|ste|unit|flat|floor|fl|puerta|piso|appartamento|wohnung|д|кв|корп|стр)\.?\s*"
    r"[\w\-/]{1,6})*"
    r"(?:(?:,\s*|\s*\n\s*|\s+)(?:[A-Z]{1,2}[\-\s]?)?\d[\dA-Z]{1,6}(?:[\s\-]\d[\dA-Z]{1,3})?(?:,?\s+[^\W\d_][\w'’\-]*"
    r"(?:\s+[^\W\d_][\w'’\-]*){0,2})?"  # 10115 Berlin, 09840-516 Araújo, SW1A 1AA
    r"|,\s*[^\W\d_][\w'’\-]*(?:\s+[^\W\d_][\w'’\-]*){0,2}(?:,?\s+(?:[A-Z]{1,2}\d[\dA-Z]?\s?\d[A-Z]{2}|\d{3,5}(?:[\s\-]\d{2,4})?))?)?"
)
# a piece of every address cue, in small letters
_ADDRESS_CUE_FRAGMENTS = ("ship", "deliver", "liv", "resid", "moved to", "addr", "anschrift", "adres", "direcci",
                          "indirizzo", "endere", "адрес")
_ADDRESS_CUE = re.compile(
    r"(?:ship(?:ping)? to|deliver(?:ed)? to|lives at|living at|resides at|residing at|moved to|home address"
    r"|billing address|shipping address|postal address|address|addr|anschrift|adresse|dirección|indirizzo"
    r"|endereço|adres|адрес)\s*(?:is|:|=|-)?\s*",
    re.IGNORECASE,
)


def find_street_addresses(text: str, plain: bool = False) -> list[Finding]:
    """Streets by their type word (the full pattern runs only around one), compound street names
    ("Ängsgatan 78"), each with the postcode and town after it; and the clause after an address cue.
    ``plain``: scan the text with each pattern (the reference), not look its words up (:mod:`.prefilter`)."""
    out: list[Finding] = []
    if not any(c.isdigit() for c in text):
        return out
    plain = plain or folds_oddly(text)
    if plain:
        compound, street_words = list(_COMPOUND_STREET.finditer(text)), [m.span() for m in _STREET_WORD.finditer(text)]
    else:
        compound, street_words = _street_words(text)
    matches = [*compound, *_USPS_STREET.finditer(text), *_HYPHENATED_STREET.finditer(text)]
    seen = -1
    for word_start, word_end in street_words:
        lo, hi = max(0, word_start - 80, seen), min(len(text), word_end + 40)
        if _DIGIT.search(text, lo, hi) is None:  # every street pattern holds a house number
            continue
        for m in _STREET.finditer(text, lo, hi):
            if m.start() <= word_start < m.end() or m.start() <= word_end <= m.end():
                matches.append(m)
                seen = max(seen, m.end())
    for m in matches:
        tail = _TAIL.match(text, m.end())
        end = tail.end() if tail else m.end()
        out.append(Finding("STREET_ADDRESS", m.start(), end, 0.7))
    if not plain and not holds_any(text.lower(), _ADDRESS_CUE_FRAGMENTS):
        return out
    for m in _ADDRESS_CUE.finditer(text):
        start = m.end()
        if start >= len(text) or not (text[start].isalnum()):
            continue
        end = _clause_end(text, start)
        if end - start >= 4 and _HOUSE_OR_POSTCODE.search(text, start, end):
            out.append(Finding("STREET_ADDRESS", start, end, 0.75))
    return out


def _street_words(text: str) -> tuple[list[re.Match[str]], list[tuple[int, int]]]:
    """What ``_COMPOUND_STREET`` and ``_STREET_WORD`` find in ``text``, by one pass over its words: a street type
    is a whole word, and a compound street starts at a word ending in a compound type."""
    compound: list[re.Match[str]] = []
    street_words: list[tuple[int, int]] = []
    compound_end = 0
    for word in TOKEN.finditer(text):
        lower = word.group().lower()
        if lower in _STREET_TYPE_WORDS:
            street_words.append(word.span())
        if word.start() >= compound_end and lower.endswith(_COMPOUND_ENDINGS):
            m = _COMPOUND_STREET.match(text, word.start())
            if m is not None:
                compound.append(m)
                compound_end = m.end()
    return compound, street_words


_HOUSE_OR_POSTCODE = re.compile(r"(?<![\d:.\-])\d{1,6}[A-Za-z]?(?![\d:.]|-\d{1,2}\b)")
# a line that starts with a postcode ("10115 Berlin", "SW1A 1AA London") or ends with one ("Leeds LS1 4AP")
_POSTCODE_LINE = re.compile(r"\s*(?:[A-Z]{1,2}[\-\s]?)?\d[\dA-Z]{1,7}(?:[\s\-]\d[\dA-Z]{1,3})?\s+[^\W\d_]"
                            r"|.*[^\W\d_].*\b(?:[A-Z]{1,2}\d[\dA-Z]?\s?\d[A-Z]{2}|\d{4,6}(?:-\d{3})?)\s*$")
# a clause ends at a sentence end (not the period of an abbreviation: "д. 5", "St. James"), a blank line, a dash,
# a joining word, or a comma before a lower-case word ("..., routing number 1234")
_CLAUSE_END = re.compile(r"(?<!\b\w)(?<!\b\w\w)(?<!\b\w\w\w)[.;!?](?=\s|$)|;|\n\s*\n|\s[-–|]\s"
                         r"|,?\s+(?:then|and|but|because|to|after|about|regarding)\s|,\s+(?=[a-z])|[\"'<>\]}]|\t")


def _clause_end(text: str, start: int, limit: int = 90) -> int:
    """Where the value after an address cue ends: the end of its clause, at most ``limit`` characters on; it
    goes on over one or two more short lines only when a later one starts with a postcode (a street, then its
    postcode and town)."""
    stop = min(len(text), start + limit)
    m = _CLAUSE_END.search(text, start, stop)
    end = m.start() if m else stop
    first_break = text.find("\n", start, end)
    if first_break != -1:
        end = postcode_line_end(text, first_break) or first_break
    return len(text[:end].rstrip(" ,"))


def postcode_line_end(text: str, line_break: int) -> int | None:
    """The end of the postcode-and-town line within the two short lines after ``line_break`` (the clause on it),
    or None: "12 Elm Road\n10115 Berlin, then ..." goes on to "Berlin"."""
    at = line_break + 1
    for _ in range(2):
        nl = text.find("\n", at)
        line_end = len(text) if nl == -1 else nl
        clause = _CLAUSE_END.search(text, at, line_end)
        end = clause.start() if clause else line_end
        piece = text[at:end]
        if len(piece) > 45 or re.search(r"[:=]", piece):
            return None
        if _POSTCODE_LINE.match(piece):
            return at + len(piece.rstrip(" ,"))
        if nl == -1:
            return None
        at = nl + 1
    return None
