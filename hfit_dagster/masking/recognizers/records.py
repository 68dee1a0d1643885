"""Records pasted into text - ``key: value`` lines, ``key=value`` pairs, JSON, XML, CSV rows - whose keys say
what a value is: the value of a personal key is that entity, whatever its shape ("name": "wuraola").

Keys are matched by the word stems of :data:`KEY_ENTITIES` (configuration as data), in any case, with ``_``,
``-``, ``.`` and spaces alike.
"""

from __future__ import annotations

import functools
import re

from hfit_dagster.masking.recognizers.contacts import postcode_line_end
from hfit_dagster.masking.recognizers.findings import Finding
from hfit_dagster.masking.recognizers.patterns import DATE_VALUE

# (entity, stems): a key whose normalized words contain one of the stems (whole words, or for the long stems
# a part of a word: "contact_email", "e-mail", "Telefonnummer").
KEY_ENTITIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("DATE_OF_BIRTH", ("dob", "birth", "birthday", "birthdate", "geburtsdatum", "naissance", "nacimiento")),
    ("EMAIL_ADDRESS", ("email", "mail", "courriel")),
    ("PHONE_NUMBER", ("phone", "tel", "telephone", "mobile", "mob", "cell", "fax", "msisdn", "callback", "telefon",
                      "handy", "whatsapp", "contact number", "contact_number")),
    ("IBAN_CODE", ("iban",)),
    ("CREDIT_CARD", ("card", "cc", "creditcard", "card number", "pan number")),
    ("BANK_ACCOUNT", ("account", "acct", "routing", "aba", "sort code", "bsb", "bic", "swift", "bank", "konto")),
    ("PASSPORT", ("passport", "reisepass", "passeport", "pasaporte")),
    ("TAX_ID", ("tax", "tin", "vat", "ein", "steuer", "pan", "gst", "siren", "siret", "utr")),
    ("NATIONAL_ID", ("ssn", "social security", "national", "nino", "ni number", "aadhaar", "itin", "pesel", "bsn",
                     "nif", "nie", "dni", "cpf", "nric", "personnummer", "hetu", "codice fiscale", "id number",
                     "personal id", "identity", "citizen", "resident id", "rrn", "cnp", "amka")),
    ("SECRET", ("password", "passwd", "pwd", "pass", "passphrase", "secret", "token", "api key", "apikey",
                "api_key", "auth", "credential", "credentials", "private key", "db url", "database url",
                "connection string", "dsn", "pin", "otp")),
    ("IP_ADDRESS", ("ip", "ip address", "remote addr", "source address", "client ip", "remote_addr")),
    ("STREET_ADDRESS", ("address", "addr", "street", "anschrift", "adresse", "direccion", "indirizzo", "endereco",
                        "ship to", "postal")),
    ("PERSON", ("name", "fullname", "firstname", "lastname", "surname", "customer", "client", "contact", "holder",
                "cardholder", "kunde", "nom", "nombre", "nome", "requester", "assignee", "patient", "owner",
                "signatory", "employee", "user", "username", "agent", "recipient", "sender", "buyer", "tenant",
                "beneficiary", "payee", "guest", "member")),
)  # fmt: skip
_LONG_STEM = 4
# keys that name no personal value, and the "<who> name" keys that name a person whatever else they say
_NOT_A_VALUE_KEY = re.compile(
    r"\b(?:note|notes|comment|status|update|type|count|details|info|data|record|summary|excerpt|payload"
    r"|product|file|host|company|item|domain|server|database|table|column|field|app|device|brand|category"
    r"|model|event|plan|service|bank name|street name|city|country|region|state)\b"
)
_NAME_KEY = re.compile(r"\bname\b|name$")
# a value longer than this many words is prose, not the value its key names
_MAX_WORDS = {"PERSON": 4, "STREET_ADDRESS": 14, "SECRET": 3, "DATE_OF_BIRTH": 4, "EMAIL_ADDRESS": 8}
_NEXT_KEY = re.compile(r"\s+[^\W\d][\w\-.]{0,30}[ \t]*=(?!=)")
_ONE_TOKEN = frozenset({"SECRET", "PASSPORT", "TAX_ID", "NATIONAL_ID", "BANK_ACCOUNT", "IBAN_CODE", "CREDIT_CARD",
                        "IP_ADDRESS", "EMAIL_ADDRESS", "PHONE_NUMBER"})
# where a value's sentence or clause ends: "mail: anna@web.de. Colleague ...", "address: 5 Elm Rd, then ..."
_SENTENCE_END = re.compile(r"(?<=\w\w)\.\s+(?=[A-Z])|;\s|\s[-–|]\s|,?\s+(?:then|but|because|regarding|after)\s")


def _normal(key: str) -> str:
    key = re.sub(r"([a-z])([A-Z])", r"\1 \2", key.strip())
    return re.sub(r"[\s_.\-/()#]+", " ", key).strip().lower()


@functools.lru_cache(maxsize=4096)
def key_entity(key: str) -> str | None:
    """The entity a record key announces, or None ("status", "order_id", "amount"). Remembered per key: the same
    keys come back in every record."""
    normal = _normal(key)
    if not normal or len(normal) > 40 or _NOT_A_VALUE_KEY.search(normal):
        return None
    if _NAME_KEY.search(normal):
        return "PERSON"
    padded = f" {normal} "
    joined = normal.replace(" ", "")
    for whole_words in (True, False):
        for entity, stems in KEY_ENTITIES:
            for stem in stems:
                hit = f" {stem} " in padded if whole_words else len(stem) >= _LONG_STEM and stem in joined
                if not hit:
                    continue
                if entity == "PERSON" and re.search(r"\b(?:id|no|number|code)\b", normal):
                    return None
                return entity
    return None


_KV_LINE = re.compile(r"(?m)^[ \t]*(?P<key>[^\W\d][^\W\d]*(?:[ .\-()/#][^\W\d]*){0,5}?)[ \t]*(?::|=|[ \t]-[ \t])[ \t]*"
                      r"(?P<value>[^\n]*?)[ \t]*$")
_KV_PAIR = re.compile(r"(?<![\w\-])(?P<key>[^\W\d][\w\-.]{0,30})[ \t]*[=:][ \t]*(?P<value>\"[^\"\n]*\"|'[^'\n]*'"
                      r"|[^,;|&\s\"'][^,;|&\n]*?)(?=[ \t]*(?:[,;|&\n]|$|\s+[^\W\d][\w\-.]{0,30}[ \t]*[=:]))")
_JSON_PAIR = re.compile(r"\"(?P<key>[^\"\\\n]{1,40})\"\s*:\s*\"(?P<value>(?:[^\"\\\n]|\\.)*)\"")
_XML = re.compile(r"<(?P<key>[\w:.\-]{1,40})(?:\s[^>]*)?>(?P<value>[^<]{1,300})</(?P=key)>")
_ATTR = re.compile(r"\b(?P<key>[\w:.\-]{1,40})=\"(?P<value>[^\"\n]{1,200})\"")
_CSV_SEPARATORS = (",", ";", "\t", "|")
_DATE = re.compile(rf"(?i)(?:{DATE_VALUE})(?!\d)")


def _add(found: list[Finding], key: str, start: int, end: int, text: str) -> None:
    entity = key_entity(key)
    if entity is None:
        return
    value = text[start:end]
    lead = value.lstrip()
    if lead[:1] in ("\"", "'") and lead.find(lead[0], 1) > 0:  # a quoted value ends at its closing quote
        start += len(value) - len(lead)
        value = lead[: lead.find(lead[0], 1) + 1]
    stripped = value.strip().strip("\"'")
    if not stripped or stripped.lower() in ("null", "none", "n/a", "-", "true", "false", "[]", "{}"):
        return
    next_key = _NEXT_KEY.search(stripped)
    if next_key:  # "DOB=12.02.1999 auth=AKIA...": the value ends where the next key begins
        stripped = stripped[: next_key.start()]
    sentence_end = _SENTENCE_END.search(stripped) if entity != "SECRET" else None
    if sentence_end:  # "mail: anna@web.de. Colleague John agreed." - the value ends with its sentence
        stripped = stripped[: sentence_end.start()]
    if len(stripped.split()) > _MAX_WORDS.get(entity, 6):
        if entity in _ONE_TOKEN:  # "z23HDeqONzc Per ticket 72, ...": the value, then prose on the same line
            stripped = stripped.split()[0]
        elif entity == "PERSON" and all(w[:1].isupper() for w in stripped.split()[:2]):
            stripped = " ".join(stripped.split()[:2])  # "Willie Weaver User mail ...": a first and a last name
        else:
            return
    if entity == "DATE_OF_BIRTH":  # "Geburtsdatum: 26.06.1988. charged ...": the date, not the sentence after it
        date = _DATE.match(stripped)
        if date:
            stripped = date.group()
    start += value.find(stripped)
    end = start + len(stripped)
    if entity == "STREET_ADDRESS" and text.startswith("\n", end):  # its postcode and town on the next line
        end = postcode_line_end(text, end) or end
    if entity == "PERSON" and sum(c.isdigit() for c in stripped) >= 7:
        entity = "PHONE_NUMBER"
    if ("@" in stripped or re.search(r"\s(?:at|\[at\]|\(at\))\s", stripped, re.IGNORECASE)) and not (
        entity == "SECRET" and "://" in stripped
    ):
        entity = "EMAIL_ADDRESS"  # an address under any key is faked as one (a phone's fake would keep its letters)
    found.append(Finding(entity, start, end, 0.8))


def find_record_values(text: str) -> list[Finding]:
    found: list[Finding] = []
    if ":" in text or "=" in text or " - " in text:
        for m in _KV_LINE.finditer(text):
            _add(found, m.group("key"), m.start("value"), m.end("value"), text)
    if "=" in text or ":" in text:
        for m in _KV_PAIR.finditer(text):
            _add(found, m.group("key"), m.start("value"), m.end("value"), text)
    if '"' in text:
        for m in _JSON_PAIR.finditer(text):
            _add(found, m.group("key"), m.start("value"), m.end("value"), text)
        for m in _ATTR.finditer(text):
            _add(found, m.group("key"), m.start("value"), m.end("value"), text)
    if "</" in text:
        for m in _XML.finditer(text):
            _add(found, m.group("key"), m.start("value"), m.end("value"), text)
    found += _csv_values(text)
    return found


def _csv_values(text: str) -> list[Finding]:
    """Rows under a header line whose cells name personal keys, split by the header's separator (quoted cells
    may hold the separator and line breaks); a header of one personal key names the next line."""
    found: list[Finding] = []
    lines = text.split("\n")
    offsets, at = [], 0
    for line in lines:
        offsets.append(at)
        at += len(line) + 1
    for i, header in enumerate(lines[:-1]):
        sep = next((s for s in _CSV_SEPARATORS if s in header), None)
        keys = [k.strip().strip("\"'") for k in header.split(sep)] if sep else [header.strip()]
        if any(not k or len(k) > 25 or len(k.split()) > 3 or (k.endswith(".") and len(k) > 6) for k in keys):
            continue
        if not any(key_entity(k) for k in keys):
            continue
        if sep is None:
            _add(found, keys[0], offsets[i + 1], offsets[i + 1] + len(lines[i + 1]), text)
            continue
        for row in _rows(text, offsets[i + 1], sep, len(keys)):
            for (a, b), key in zip(row, keys, strict=False):
                _add(found, key, a, b, text)
    return found


def _rows(text: str, start: int, sep: str, width: int, limit: int = 200) -> list[list[tuple[int, int]]]:
    """Cells (start, end) of the rows from ``start``, quote-aware; a row with fewer cells than ``width`` ends
    the table."""
    rows: list[list[tuple[int, int]]] = []
    cells: list[tuple[int, int]] = []
    cell_start, quoted, k = start, False, start
    while k <= len(text) and len(rows) < limit:
        ch = text[k] if k < len(text) else "\n"
        if ch == '"':
            quoted = not quoted
        elif (ch == sep or ch == "\n") and not quoted:
            cells.append((cell_start, k))
            cell_start = k + 1
            if ch == "\n":
                if len(cells) < width:
                    break
                rows.append(cells)
                cells = []
        k += 1
    return rows
