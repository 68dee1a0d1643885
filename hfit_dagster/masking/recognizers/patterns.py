"""Pattern library: values with a shape of their own (checked where a check digit exists), and values announced
by a cue word ("passport no.", "password is", "DOB:"). Configuration as data: :data:`SHAPES` and :data:`CUES`.

A shape rule reports its whole match; a cue rule reports the value after the cue, never the cue itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hfit_dagster.masking.recognizers.checksums import VALIDATORS
from hfit_dagster.masking.recognizers.findings import Finding
from hfit_dagster.masking.recognizers.prefilter import first_segments, folds_oddly, holds_any


@dataclass(frozen=True)
class ShapeRule:
    """A value recognised by its form alone; ``validator`` (a key of :data:`checksums.VALIDATORS`) must accept
    the match when set."""

    entity: str
    regex: str
    score: float = 0.85
    validator: str | None = None
    ignore_case: bool = True
    # pieces every match holds, in small letters: a text without any skips the rule (prefilter.py)
    needs: tuple[str, ...] = ()


_SEP = r"[ \-]?"
SHAPES: tuple[ShapeRule, ...] = (
    # cards of every brand and length (12-19 digits, grouped or not) that pass Luhn
    ShapeRule("CREDIT_CARD", rf"(?<![\w.+\-/])\d{{4}}(?:{_SEP}\d{{2,7}}){{1,3}}{_SEP}\d{{1,7}}(?![\w\-]|\.\d)",
              validator="luhn"),  # grouped: 4-4-4-4, 4-6-5, and a short last group (13-digit Visa as 4-4-4-1)
    ShapeRule("CREDIT_CARD", r"(?<![\w.+\-/])\d{12,19}(?![\w\-]|\.\d)", validator="luhn"),
    # IBANs of any country, compact or in groups of four, mod-97 checked
    ShapeRule("IBAN_CODE", r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b", 0.9, "iban"),
    ShapeRule("UK_NINO", r"\b[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b", 0.85, "nino"),
    ShapeRule("TAX_ID", r"\b[A-Z]{3}[PCHFATBLJG][A-Z]\d{4}[A-Z]\b", 0.85, "pan"),
    ShapeRule("NATIONAL_ID", r"(?<![\w\-])[2-9]\d{3}[ \-]?\d{4}[ \-]?\d{4}(?![\w\-])", 0.8, "aadhaar"),
    ShapeRule("NATIONAL_ID", r"(?<![\w\-])\d{3}-\d{2}-\d{4}(?![\w\-])", 0.8),  # US SSN / ITIN
    # EU VAT numbers of every member state (python-stdnum's per-country check digits)
    # (the country code in capitals, as written on invoices: "at 0451 882 702" is not one; after a cue word, any case)
    ShapeRule("TAX_ID", r"\b(?-i:AT|BE|BG|CY|CZ|DE|DK|EE|EL|ES|FI|FR|HR|HU|IE|IT|LT|LU|LV|MT|NL|PL|PT|RO|SE|SI|SK)"
                        r"[ \-]?U?[0-9A-Z][0-9A-Z .]{6,13}[0-9A-Z]\b", 0.85, "eu_vat"),
    # a random-looking token (upper and lower case letters and a digit, 8+ characters): a password or key
    ShapeRule("SECRET", r"(?<![\w@./:\-])(?=[^\s\"'<>,;=]*[a-z])(?=[^\s\"'<>,;=]*[A-Z])(?=[^\s\"'<>,;=]*\d)"
                        r"[^\s\"'<>,;=]{8,64}(?<![.!?:)])", 0.6, "random_token", ignore_case=False),
    # secrets with a vendor's shape: payment-provider, GitHub, GitLab, Slack, AWS, Google keys, JWTs (in any case:
    # a note written in capitals still holds them)
    ShapeRule("SECRET", r"\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{10,}", 0.95, needs=("_live_", "_test_")),
    ShapeRule("SECRET", r"\bgh[pousr]_[A-Za-z0-9]{20,}", 0.95, needs=("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
    ShapeRule("SECRET", r"\bglpat-[\w\-]{16,}", 0.95, needs=("glpat-",)),
    ShapeRule("SECRET", r"\bxox[abposr]-[A-Za-z0-9\-]{10,}", 0.95, needs=("xox",)),
    ShapeRule("SECRET", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", 0.95, ignore_case=False, needs=("akia", "asia")),
    ShapeRule("SECRET", r"\bAIza[\w\-]{30,}", 0.95, needs=("aiza",)),
    ShapeRule("SECRET", r"\beyJ[\w\-]{8,}\.[\w\-]{8,}\.[\w\-]{8,}", 0.95, needs=("eyj",)),
    ShapeRule("SECRET", r"(?<=\bbearer )\S{8,}", 0.9, needs=("bearer ",)),
    # credentials inside connection strings: scheme://user:password@host and ADO-style Password=...;
    ShapeRule("SECRET", r"\b[a-z][a-z0-9+.\-]{1,20}://[^\s:/@]*:[^\s@/]+@[^\s/;,]+", 0.95,
              needs=("://",)),
    ShapeRule("SECRET", r"(?<=\bpassword=)[^;\s]+|(?<=\bpwd=)[^;\s]+|(?<=\buser id=)[^;\s]+", 0.9,
              needs=("password=", "pwd=", "user id=")),
)

# Cue words before a value, by entity. The value after the cue is taken by the entity's value shape below.
_ID_CUES = (
    r"ssn|social security(?: number| no\.?)?|national insurance(?: number| no\.?)?|ni (?:number|no\.?)|nino"
    r"|aadhaar(?: number| no\.?)?|id (?:number|no\.?|card)|id|personal (?:identity |id )?(?:number|no\.?|code)"
    r"|identity (?:number|card(?: number)?)|itin|pesel|bsn|nif|nie|dni|cpf|nric|personnummer|henkil[oö]tunnus|hetu"
    r"|codice fiscale|national id(?: number)?|citizen id|resident id|rrn|fødselsnummer|cnp|amka|egn|oib|jmbg"
)
_PASSPORT_CUES = r"passport(?: number| no\.?| #)?|travel document(?: number| no\.?)?"
_TAX_CUES = (
    r"tax (?:id|number|no\.?|code|identification number)|tin|pan(?: number| no\.?)?|vat(?: number| no\.?| id)?"
    r"|ein|steuer-?id|steuernummer|ust-?idnr|siren|siret|partita iva|utr|gst(?:in)?"
)
_BANK_CUES = (
    r"(?:bank )?account(?: number| no\.?| #)?|acct\.?(?: no\.?| #)?|routing(?: number| no\.?)?|aba(?: number)?"
    r"|sort code|bank details|bsb|transit number|bank account(?: number)?|kontonummer|clabe"
)
_SECRET_CUES = (
    r"password|passwd|passwort|mot de passe|contraseña|pwd|pass(?:code|phrase)?|pin|api[_ \-]?key|apikey|access key"
    r"|secret(?: key)?|client secret|token|auth(?:orization)?|credentials?|connection string|db_url|database_url"
    r"|private key"
)
_DOB_CUES = (
    r"born(?: on| in)?|d\.?o\.?b\.?|date of birth|birth ?date|birthday(?: is)?|geburtsdatum|geboren(?: am)?"
    r"|n[ée]e? le|date de naissance|fecha de nacimiento|data di nascita|b\."
)

_JOIN = r"[ \t]*(?:(?:is|was|are|=|:|#|-|–)[ \t]*)*(?:(?:bearer|basic)[ \t]+)?"
# groups with a digit, joined by one separator; a short letter prefix ("ZZ 12 34 56 T", "FRXf 844152423") and a
# one-letter suffix
_ID_GROUP = r"[A-Z0-9]*\d[A-Z0-9]*"
_ID_VALUE = rf"(?:[A-Z]{{1,4}}[ \-]?)?{_ID_GROUP}(?:[ .\-/](?:{_ID_GROUP}|[A-Z](?![\w])))*"
_SECRET_VALUE = r"[^\s\"'<>;,][^\s\"'<>]{3,199}"
_MONTHS = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|januar|februar|märz|mai|juni|juli|oktober|dezember|janvier|février"
    r"|mars|avril|juin|juillet|août|septembre|octobre|novembre|décembre"
)
DATE_VALUE = (
    rf"\d{{4}}[-/.]\d{{1,2}}[-/.]\d{{1,2}}|\d{{1,2}}[-/.]\d{{1,2}}[-/.]\d{{2,4}}"
    rf"|\d{{1,2}}\.? (?:{_MONTHS})\.?,? \d{{4}}"
    rf"|(?:{_MONTHS})\.? \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}}"
)


@dataclass(frozen=True)
class CueRule:
    """``cues`` then the joining words (``is``, ``:``, ``=``), then a value of ``value`` shape: the value is the
    entity. ``needs_digit``: the value has a digit (an id, not the next word); ``secret_like``: a digit, a symbol
    or mixed case (a password, not "expired")."""

    entity: str
    cues: str
    value: str
    score: float = 0.8
    needs_digit: bool = True
    secret_like: bool = False
    random_like: bool = False  # secret_like, and a Title-case word ("Google") is not one


_LOGIN_CUES = r"log(?:ged)?[ \-]?(?:in|on) (?:with|using)|sign(?:ed)?[ \-]?in (?:with|using)"


CUES: tuple[CueRule, ...] = (
    CueRule("DATE_OF_BIRTH", _DOB_CUES, DATE_VALUE, 0.9, needs_digit=True),
    CueRule("PASSPORT", _PASSPORT_CUES, _ID_VALUE, 0.85),
    CueRule("TAX_ID", _TAX_CUES, _ID_VALUE, 0.8),
    CueRule("BANK_ACCOUNT", _BANK_CUES, _ID_VALUE, 0.8),
    CueRule("NATIONAL_ID", _ID_CUES, _ID_VALUE, 0.8),
    CueRule("SECRET", _SECRET_CUES, _SECRET_VALUE, 0.85, needs_digit=False, secret_like=True),
    CueRule("SECRET", _LOGIN_CUES, _SECRET_VALUE, 0.8, needs_digit=False, secret_like=True, random_like=True),
)

_SHAPE_PATTERNS = [(rule, re.compile(rule.regex, re.IGNORECASE if rule.ignore_case else 0)) for rule in SHAPES]
def _spaced(cues: str) -> str:
    """Cue words as written in keys too: a space may be an underscore or a hyphen ("date_of_birth")."""
    return re.sub(r"\[[^\]]*\]| ", lambda m: r"[ _\-]" if m.group() == " " else m.group(), cues)


# the cue, then its value on the same line; or the cue alone on its line (a label, a one-column header), the value
# starting the next line
_CUE_PATTERNS = [
    (rule, re.compile(rf"(?<![\w\-])(?:{_spaced(rule.cues)})(?![\w]){_JOIN}(?P<value>{rule.value})", re.IGNORECASE),
     re.compile(rf"^[ \t]*(?:{_spaced(rule.cues)})[ \t]*[:=#\-]?[ \t]*\n[ \t]*(?P<value>{rule.value})",
                re.IGNORECASE | re.MULTILINE))
    for rule in CUES
]
# the first runs of letters each rule's cues start with: a cue match starts at such a run of the text (prefilter.py)
_CUE_FIRSTS = [first_segments(_spaced(rule.cues)) for rule in CUES]
_SEGMENT = re.compile(r"[^\W_]+")
_TRAILING = ".,;:!?)]}'\""


def secret_like(value: str) -> bool:
    """A password or key rather than a word: a digit, a symbol, or upper and lower case letters, 6+ chars."""
    if len(value) < 6:
        return False
    return any(c.isdigit() for c in value) or not value.isalnum() or (value.lower() != value != value.upper())


def random_like(value: str) -> bool:
    """A password or key rather than a name: a digit, a symbol, or a capital after a small letter ("whvJYDY"),
    6+ chars; "Google" or "SSO" is not one."""
    if len(value) < 6:
        return False
    return any(c.isdigit() for c in value) or not value.isalnum() or re.search(r"[a-z][A-Z]", value) is not None


def find_shapes(text: str, plain: bool = False) -> list[Finding]:
    """Every shape rule's matches (validated where the rule has a validator); a rule whose :attr:`ShapeRule.needs`
    the text lacks is skipped unless ``plain`` (the reference: every rule scans the text)."""
    out = []
    plain = plain or folds_oddly(text)
    lower = text.lower()
    for rule, pattern in _SHAPE_PATTERNS:
        if rule.needs and not plain and not holds_any(lower, rule.needs):
            continue
        for m in pattern.finditer(text):
            if rule.validator is None:
                out.append(Finding(rule.entity, m.start(), m.end(), rule.score))
                continue
            value = m.group()
            for _ in range(3):  # the last group may be the next word ("ES31 ... 5897 now"): drop it and check again
                if VALIDATORS[rule.validator](value):
                    out.append(Finding(rule.entity, m.start(), m.start() + len(value), rule.score))
                    break
                if " " not in value:
                    break
                value = value.rsplit(" ", 1)[0]
    return out


def find_cued(text: str, plain: bool = False) -> list[Finding]:
    """Every cue rule's values; the rule's patterns are tried only at the runs of letters its cues start with,
    unless ``plain`` (the reference: each pattern scans the text)."""
    out = []
    lines = "\n" in text
    plain = plain or folds_oddly(text)
    segments = [] if plain else [(m.start(), m.group().lower()) for m in _SEGMENT.finditer(text)]
    for (rule, same_line, next_line), firsts in zip(_CUE_PATTERNS, _CUE_FIRSTS, strict=True):
        if plain:
            matches = [*same_line.finditer(text), *(next_line.finditer(text) if lines else ())]
        else:
            matches = _matches_at_cues(text, segments, firsts, same_line, next_line if lines else None)
        for m in matches:
            start, end = m.span("value")
            value = text[start:end]
            if rule.secret_like:
                while end > start and text[end - 1] in _TRAILING and (end == len(text) or text[end].isspace()
                                                                        or text[end] in _TRAILING):
                    end -= 1
                value = text[start:end]
                if not (random_like(value) if rule.random_like else secret_like(value)):
                    continue
            else:
                value = value.rstrip(" .-/")
                end = start + len(value)
            if rule.needs_digit and sum(c.isdigit() for c in value) < (4 if rule.entity != "DATE_OF_BIRTH" else 2):
                continue
            out.append(Finding(rule.entity, start, end, rule.score))
    return out


def _matches_at_cues(text: str, segments: list[tuple[int, str]], firsts: frozenset[str], same_line: re.Pattern[str],
                     next_line: re.Pattern[str] | None) -> list[re.Match[str]]:
    """What ``same_line.finditer`` and then ``next_line.finditer`` find, tried only at the runs of letters in
    ``firsts`` (``segments``: each run's start and small letters): a same-line match starts at its cue, a
    next-line one at the start of the cue's line, with only spaces or tabs before the cue."""
    same: list[re.Match[str]] = []
    following: list[re.Match[str]] = []
    same_end = following_end = 0  # as finditer: no match starts inside the one before
    for start, segment in segments:
        if segment not in firsts:
            continue
        if start >= same_end and (m := same_line.match(text, start)) is not None:
            same.append(m)
            same_end = m.end()
        if next_line is not None:
            line = text.rfind("\n", 0, start) + 1
            if line >= following_end and not text[line:start].strip(" \t") and (
                    m := next_line.match(text, line)) is not None:
                following.append(m)
                following_end = m.end()
    return same + following
