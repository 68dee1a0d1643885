"""Privacy benchmark: how much personal data hfit's free-text redaction removes, beside stock Presidio.

Corpus: support-ticket and audit-note style texts generated here from data no one on the team wrote - Faker's
locale providers (names in Latin, Cyrillic, Greek, CJK, Arabic, Devanagari ... scripts, street addresses,
postcodes, emails, passwords, IPs, cards of every brand and length, IBANs), ``phonenumbers`` example numbers of
every region (national, international and E.164 formats, last digits varied while valid), national ids,
passports and tax ids checked with ``python-stdnum`` where it has a validator, secrets (passwords, API keys,
bearer tokens, connection strings). Each text is put together at random from many fragments (openers, verbs,
connectors, snippet shapes: ``key: value`` lines, CSV, XML, JSON, signatures, names wrapped across lines,
varied casing), seeded, so runs are reproducible. PII-free sentences (order ids, amounts, versions, product
names, error codes, dates, ...) measure over-masking.

A labelled value counts as removed only if none of its identifying tokens survives in the redacted text: every
``\\w+`` token of 3 or more characters (2 or more in scripts written without spaces), compared case-blind as a
whole token; for values made of digits, their whole digit string (found inside a run of digits and
separators); for dates of birth, the date as written. Generic words of a value (``Street``, ``Apt``, a mail
provider, a top-level domain) are not identifying and are not counted.

Run ``make privacy`` (the held-out seed) or ``.venv/bin/python bench/privacy.py --seed 1`` (the development
seed). Figures go to ``bench/results/privacy.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import string
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from masking_throughput import _replace_spans, stock_engine  # noqa: E402

from hfit_dagster.masking import TextAnalyzer, TextRedactor  # noqa: E402
from hfit_dagster.masking.text_analysis import DEFAULT_NLP_MODEL  # noqa: E402

KEY = b"privacy-bench-key-0123456789abcd"
HELD_OUT_SEED = 2026
RESULTS = REPO / "bench" / "results" / "privacy.json"

NAME_LOCALES = [
    "en_US", "en_GB", "en_IE", "en_AU", "en_IN", "de_DE", "de_AT", "fr_FR", "es_ES", "es_MX", "it_IT", "pt_BR",
    "pt_PT", "nl_NL", "pl_PL", "sv_SE", "no_NO", "da_DK", "fi_FI", "cs_CZ", "hu_HU", "ro_RO", "tr_TR", "hr_HR",
    "sk_SK", "sl_SI", "lt_LT", "lv_LV", "et_EE", "ru_RU", "uk_UA", "bg_BG", "el_GR", "zh_CN", "zh_TW", "ja_JP",
    "ko_KR", "ar_AA", "ar_SA", "fa_IR", "he_IL", "hi_IN", "bn_BD", "ne_NP", "th_TH", "vi_VN", "id_ID", "fil_PH",
    "ka_GE", "hy_AM", "az_AZ", "tw_GH", "yo_NG", "zu_ZA",
]  # fmt: skip
ADDRESS_LOCALES = [
    "en_US", "en_GB", "en_AU", "en_CA", "en_IN", "de_DE", "de_CH", "fr_FR", "es_ES", "it_IT", "pt_BR", "nl_NL",
    "pl_PL", "sv_SE", "no_NO", "da_DK", "fi_FI", "cs_CZ", "ru_RU", "uk_UA", "el_GR", "ja_JP", "ko_KR", "zh_CN",
    "hi_IN", "tr_TR", "hu_HU", "ro_RO",
]  # fmt: skip
IBAN_LOCALES = ["de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "en_GB", "pl_PL", "pt_PT", "fi_FI", "da_DK", "no_NO",
                "el_GR", "de_AT", "fr_CH", "nl_BE", "cs_CZ", "sk_SK", "hu_HU", "ro_RO", "tr_TR", "lt_LT", "et_EE"]
CARD_TYPES = ["visa13", "visa16", "visa19", "mastercard", "amex", "discover", "diners", "jcb15", "jcb16", "maestro"]

# words of a value that do not identify anyone (the fakes of the same kind contain them too)
GENERIC = {
    "street", "str", "road", "avenue", "ave", "lane", "drive", "apt", "suite", "unit", "floor", "flat", "box",
    "gmail", "yahoo", "hotmail", "outlook", "live", "mail", "web", "gmx", "com", "net", "org", "info", "biz",
    "dot", "example", "the", "and", "bearer", "password", "http", "https", "postgres", "postgresql", "mysql", "mongodb",
    "redis", "amqp", "server", "user", "database", "localhost", "key", "test", "glpat", "xoxb", "xoxp",
}


@dataclass
class Value:
    kind: str
    text: str
    tokens: list[str] = field(default_factory=list)
    digits: str = ""
    exact: bool = False  # judged by the whole string as written (dates)


@dataclass
class Sample:
    text: str
    values: list[Value]


# ---------------------------------------------------------------------------------------------- values

_NO_SPACE_SCRIPTS = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def _identifying_tokens(text: str, generic: set[str] = GENERIC) -> list[str]:
    out = []
    for tok in re.findall(r"\w+", text):
        short = 2 if _NO_SPACE_SCRIPTS.search(tok) else 3
        if len(tok) >= short and tok.lower() not in generic and not tok.isdigit():
            out.append(tok)
    return out


def _digit_value(kind: str, text: str) -> Value:
    return Value(kind, text, tokens=[t for t in _identifying_tokens(text) if not t.isdigit()],
                 digits=re.sub(r"\D", "", text))


class Generator:
    """Labelled values of every kind, from Faker, phonenumbers and python-stdnum, seeded."""

    def __init__(self, seed: int) -> None:
        from faker import Faker

        self.rnd = random.Random(seed)
        self.fakers: dict[str, Any] = {}
        self._faker_class = Faker
        self.seed = seed
        self._street_generic = self._generic_street_words()

    def faker(self, locale: str) -> Any:
        f = self.fakers.get(locale)
        if f is None:
            f = self._faker_class(locale)
            f.seed_instance(self.seed * 1000 + len(self.fakers))
            for provider in f.providers:  # it_IT's cities come from a set: in hash order, another per process
                if isinstance(getattr(provider, "cities", None), list):
                    provider.cities = sorted(provider.cities)
            self.fakers[locale] = f
        return f

    def _generic_street_words(self) -> set[str]:
        """Words in more than 3% of a locale's generated street addresses (street types, 'Apt', 'д.')."""
        generic: set[str] = set(GENERIC)
        for loc in ADDRESS_LOCALES:
            f = self.faker(loc)
            counts: Counter[str] = Counter()
            for _ in range(300):
                counts.update({t.lower() for t in re.findall(r"\w+", f.street_address())})
            generic |= {w for w, c in counts.items() if c > 9}
        return generic

    # names -----------------------------------------------------------------------------------------
    def name_parts(self) -> tuple[str, str, str]:
        loc = self.rnd.choice(NAME_LOCALES)
        f = self.faker(loc)
        return loc, f.first_name(), f.last_name()

    def _cased(self, text: str) -> str:
        r = self.rnd.random()
        return text.upper() if r < 0.12 else text.lower() if r < 0.24 else text

    def full_name(self) -> Value:
        loc, first, last = self.name_parts()
        if loc in ("zh_CN", "zh_TW", "ja_JP", "ko_KR"):
            sep = self.rnd.choice(["", "", " "])
            text = last + sep + first
        elif self.rnd.random() < 0.15:
            text = f"{last}, {first}"
        else:
            text = f"{first} {last}"
        text = self._cased(text)
        return Value("full_name", text, tokens=_identifying_tokens(text) or [text])

    def lone_name(self) -> Value:
        _, first, last = self.name_parts()
        text = self._cased(self.rnd.choice([first, last]))
        return Value("lone_name", text, tokens=_identifying_tokens(text) or [text])

    # contact ---------------------------------------------------------------------------------------
    def email(self) -> Value:
        f = self.faker(self.rnd.choice(["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL"]))
        text = self.rnd.choice([f.email, f.free_email, f.company_email, f.safe_email])()
        if self.rnd.random() < 0.15:
            text = text.upper()
        local, _, domain = text.partition("@")
        tokens = _identifying_tokens(local) + _identifying_tokens(".".join(domain.split(".")[:-1]))
        return Value("email", text, tokens=tokens or [local])

    def obfuscated_email(self) -> Value:
        f = self.faker(self.rnd.choice(["en_US", "en_GB", "de_DE"]))
        local, _, domain = f.free_email().partition("@")
        at = self.rnd.choice([" at ", " [at] ", "(at)", " AT ", " @ ", " (at) "])
        dot = self.rnd.choice([" dot ", " [dot] ", "(dot)", " DOT ", "."])
        text = local.replace(".", dot) + at + domain.replace(".", dot)
        tokens = _identifying_tokens(local) + _identifying_tokens(".".join(domain.split(".")[:-1]))
        return Value("email_obfuscated", text, tokens=tokens or [local])

    def phone(self) -> Value:
        import phonenumbers
        from phonenumbers import PhoneNumberFormat as F
        from phonenumbers import PhoneNumberType as T

        if self.rnd.random() < 0.3:
            f = self.faker(self.rnd.choice(ADDRESS_LOCALES))
            return _digit_value("phone", f.phone_number())
        regions = sorted(phonenumbers.SUPPORTED_REGIONS)
        for _ in range(20):
            region = self.rnd.choice(regions)
            kind = self.rnd.choice([T.MOBILE, T.FIXED_LINE])
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            national = str(example.national_number)
            for _ in range(10):
                tail = "".join(self.rnd.choice(string.digits) for _ in range(min(4, len(national) - 3)))
                candidate = phonenumbers.parse(f"+{example.country_code}{national[: -len(tail)]}{tail}")
                if phonenumbers.is_valid_number(candidate):
                    example = candidate
                    break
            fmt = self.rnd.choice([F.NATIONAL, F.NATIONAL, F.INTERNATIONAL, F.E164])
            return _digit_value("phone", phonenumbers.format_number(example, fmt))
        return _digit_value("phone", "+1 202 555 0143")

    # money -----------------------------------------------------------------------------------------
    def card(self) -> Value:
        digits = self.faker("en_US").credit_card_number(self.rnd.choice(CARD_TYPES))
        style = self.rnd.random()
        if style < 0.4:
            text = digits
        else:
            sep = " " if style < 0.8 else "-"
            groups = [4, 6, 5] if len(digits) == 15 else [4, 6, 4] if len(digits) == 14 else [4] * 5
            parts, at = [], 0
            for g in groups:
                if at < len(digits):
                    parts.append(digits[at : at + g])
                    at += g
            if at < len(digits):
                parts.append(digits[at:])
            text = sep.join(parts)
        return _digit_value("card", text)

    def iban(self) -> Value:
        compact = self.faker(self.rnd.choice(IBAN_LOCALES)).iban()
        text = compact if self.rnd.random() < 0.4 else " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))
        return Value("iban", text, tokens=[], digits=re.sub(r"\D", "", compact), exact=False)

    def bank_account(self) -> Value:
        f = self.faker("en_US")
        choice = self.rnd.random()
        if choice < 0.4:
            return _digit_value("bank_account", f.aba())
        if choice < 0.7:
            digits = "".join(self.rnd.choice(string.digits) for _ in range(self.rnd.randint(8, 12)))
            return _digit_value("bank_account", digits)
        bban = self.faker(self.rnd.choice(["en_GB", "de_DE", "nl_NL"])).bban()
        return Value("bank_account", bban, tokens=_identifying_tokens(bban), digits=re.sub(r"\D", "", bban))

    # ids -------------------------------------------------------------------------------------------
    def national_id(self) -> Value:
        return self.rnd.choice([self._ssn, self._itin, self._nino, self._aadhaar, self._eu_id, self._eu_id,
                                self._asia_id])()

    def _ssn(self) -> Value:
        ssn = self.faker("en_US").ssn()
        return _digit_value("national_id", ssn if self.rnd.random() < 0.7 else ssn.replace("-", ""))

    def _itin(self) -> Value:
        return _digit_value("national_id", self.faker("en_US").itin())

    def _nino(self) -> Value:
        """A UK National Insurance number (python-stdnum has no NINO module: the published prefix rules)."""
        first = self.rnd.choice("ABCEGHJKLMNOPRSTWXYZ")
        second = self.rnd.choice("ABCEGHJKLMNPRSTWXYZ")
        digits = "".join(self.rnd.choice(string.digits) for _ in range(6))
        suffix = self.rnd.choice("ABCD")
        text = f"{first}{second}{digits}{suffix}"
        if self.rnd.random() < 0.5:
            text = f"{first}{second} {digits[:2]} {digits[2:4]} {digits[4:]} {suffix}"
        return Value("national_id", text, tokens=[text.replace(" ", "")] if " " not in text else [],
                     digits=digits)

    def _aadhaar(self) -> Value:
        from stdnum import verhoeff
        from stdnum.in_ import aadhaar

        while True:
            body = str(self.rnd.randint(2, 9)) + "".join(self.rnd.choice(string.digits) for _ in range(10))
            number = body + verhoeff.calc_check_digit(body)
            if aadhaar.is_valid(number):
                break
        text = number if self.rnd.random() < 0.4 else f"{number[:4]} {number[4:8]} {number[8:]}"
        return _digit_value("national_id", text)

    def _eu_id(self) -> Value:
        loc, method = self.rnd.choice([("fr_FR", "ssn"), ("it_IT", "ssn"), ("nl_NL", "ssn"), ("pl_PL", "ssn"),
                                       ("sv_SE", "ssn"), ("fi_FI", "ssn"), ("no_NO", "ssn"), ("es_ES", "nif"),
                                       ("es_ES", "nie"), ("ro_RO", "ssn"), ("hu_HU", "ssn"), ("fr_CH", "ssn"),
                                       ("nl_BE", "ssn"), ("el_GR", "ssn"), ("pt_BR", "cpf")])
        text = getattr(self.faker(loc), method)()
        return Value("national_id", text, tokens=[t for t in _identifying_tokens(text) if not t.isdigit()],
                     digits=re.sub(r"\D", "", text))

    def _asia_id(self) -> Value:
        loc = self.rnd.choice(["zh_CN", "ko_KR"])
        return _digit_value("national_id", self.faker(loc).ssn())

    def passport(self) -> Value:
        loc = self.rnd.choice(["de_DE", "es_ES", "it_IT", "pt_BR", "tr_TR", "fr_CH", "ru_RU", "uk_UA", "en_GB"])
        text = self.faker(loc).passport_number()
        tokens = [t for t in re.findall(r"\w+", text) if not t.isdigit() and len(t) >= 3]
        return Value("passport", text, tokens=tokens, digits=re.sub(r"\D", "", text))

    def tax_id(self) -> Value:
        kind = self.rnd.random()
        if kind < 0.3:
            text = self._pan()
            return Value("tax_id", text, tokens=[text])
        if kind < 0.5:
            return _digit_value("tax_id", self.faker("en_US").ein())
        if kind < 0.7:
            from stdnum.de import idnr
            from stdnum.iso7064 import mod_11_10

            while True:
                body = str(self.rnd.randint(1, 9)) + "".join(self.rnd.choice(string.digits) for _ in range(9))
                number = body + mod_11_10.calc_check_digit(body)
                if idnr.is_valid(number):
                    break
            return _digit_value("tax_id", number if self.rnd.random() < 0.5 else
                                f"{number[:2]} {number[2:5]} {number[5:8]} {number[8:]}")
        loc = self.rnd.choice(["de_DE", "fr_FR", "it_IT", "es_ES", "nl_BE", "ro_RO", "cs_CZ", "hu_HU"])
        text = self.faker(loc).vat_id()
        return Value("tax_id", text, tokens=[t for t in _identifying_tokens(text) if not t.isdigit()],
                     digits=re.sub(r"\D", "", text))

    def _pan(self) -> str:
        from stdnum.in_ import pan

        while True:
            text = ("".join(self.rnd.choice(string.ascii_uppercase) for _ in range(3)) + self.rnd.choice("PCHFATBLJG")
                    + self.rnd.choice(string.ascii_uppercase)
                    + "".join(self.rnd.choice(string.digits) for _ in range(4))
                    + self.rnd.choice(string.ascii_uppercase))
            if pan.is_valid(text):
                return text

    # secrets and network -----------------------------------------------------------------------------
    def secret(self) -> Value:
        f = self.faker("en_US")
        r = self.rnd.random()
        alnum = string.ascii_letters + string.digits
        if r < 0.35:
            text = f.password(length=self.rnd.randint(8, 16), special_chars=self.rnd.random() < 0.7)
        elif r < 0.55:
            prefix = self.rnd.choice(["sk_live_", "pk_test_", "ghp_", "xoxb-", "AKIA", "glpat-", "AIza", "", "key-"])
            n = 16 if prefix == "AKIA" else self.rnd.randint(20, 40)
            body = "".join(self.rnd.choice(string.ascii_uppercase + string.digits if prefix == "AKIA" else alnum)
                           for _ in range(n))
            text = prefix + body
        elif r < 0.7:
            part = lambda n: "".join(self.rnd.choice(alnum + "-_") for _ in range(n))  # noqa: E731
            text = f"eyJ{part(20)}.eyJ{part(30)}.{part(43)}"
        else:
            user, pw = f.user_name(), f.password(length=self.rnd.randint(8, 14), special_chars=False)
            host = self.rnd.choice([f.domain_name(), f.ipv4_private(), "db-prod-3.internal"])
            text = self.rnd.choice([
                f"postgresql://{user}:{pw}@{host}:5432/{f.word()}",
                f"mysql://{user}:{pw}@{host}/{f.word()}",
                f"mongodb+srv://{user}:{pw}@{host}/?retryWrites=true",
                f"Server={host};Database={f.word()};User Id={user};Password={pw};",
                f"redis://:{pw}@{host}:6379/0",
            ])
            return Value("secret", text, tokens=[t for t in _identifying_tokens(pw)] or [pw])
        return Value("secret", text, tokens=_identifying_tokens(text) or [text])

    def ip(self) -> Value:
        f = self.faker("en_US")
        text = f.ipv4_public() if self.rnd.random() < 0.6 else f.ipv6()
        if ":" in text:
            return Value("ip", text, tokens=[text])
        return Value("ip", text, tokens=[text])

    def street_address(self) -> Value:
        loc = self.rnd.choice(ADDRESS_LOCALES)
        f = self.faker(loc)
        street, postcode, city = f.street_address(), f.postcode(), f.city()
        if loc in ("ja_JP", "zh_CN", "ko_KR"):
            text = f"{postcode} {city}{street}" if self.rnd.random() < 0.5 else f"{city}{street}"
        else:
            text = self.rnd.choice([f"{street}, {postcode} {city}", f"{street}, {city} {postcode}",
                                    f"{street}\n{postcode} {city}", f"{street}, {city}"])
        tokens = [t for t in _identifying_tokens(street, self._street_generic)]
        if loc in ("ja_JP", "zh_CN", "ko_KR"):
            tokens = [t for t in re.findall(r"\w+", street) if len(t) >= 2 and not t.isdigit()]
        return Value("street_address", text, tokens=tokens, digits=re.sub(r"\D", "", postcode)
                     if len(re.sub(r"\D", "", postcode)) >= 4 and postcode in text else "")

    def date_of_birth(self) -> tuple[str, Value]:
        d = self.faker("en_US").date_of_birth(minimum_age=18, maximum_age=90)
        text = self.rnd.choice([d.strftime("%Y-%m-%d"), d.strftime("%d/%m/%Y"), d.strftime("%m/%d/%Y"),
                                d.strftime("%d.%m.%Y"), f"{d.day} {d.strftime('%B')} {d.year}",
                                f"{d.strftime('%B')} {d.day}, {d.year}", f"{d.day} {d.strftime('%b')} {d.year}"])
        intro = self.rnd.choice(["born on", "born", "DOB", "DOB:", "date of birth", "date of birth:", "d.o.b.",
                                 "birthday is", "birthdate", "Geburtsdatum:", "né le", "b."])
        return intro, Value("date_of_birth", text, exact=True)


# ---------------------------------------------------------------------------------------------- texts

OPENERS = ["", "", "Customer", "Caller", "The client", "User", "Per ticket #{n},", "Update:", "FYI", "Note:",
           "Escalation -", "Audit:", "Agent note:", "Re: case {n} -", "Hi team,", "Hello,", "Following up:"]
VERBS = ["called", "wrote in", "emailed", "reported", "asked", "complained", "confirmed", "said", "requested",
         "mentioned", "phoned", "messaged support", "opened a chat", "replied"]
ISSUES = ["about a missing parcel", "about the refund", "regarding invoice {n}", "about a double charge",
          "because the login fails", "about order {n}", "to change the delivery slot", "about a damaged item",
          "to close the account", "about the warranty", "to update billing details", "after the outage"]
CLOSERS = ["", "", "", "Please follow up.", "Refund approved.", "Escalated to tier 2.", "Will call back tomorrow.",
           "Case closed.", "Waiting for the courier.", "See attached log.", "No further action."]

NAME_KEYS = ["name", "Name", "full_name", "customer", "Customer", "contact", "holder", "client", "Kunde", "nom",
             "cardholder", "account_name", "NAME", "requester", "assignee", "patient"]
KEY_FOR = {
    "email": ["email", "e-mail", "Email", "mail", "contact_email", "EMAIL"],
    "phone": ["phone", "tel", "Tel.", "mobile", "cell", "Phone", "telefon", "callback", "msisdn", "contact_number"],
    "card": ["card", "card_number", "pan", "Card no", "cc", "CARD"],
    "iban": ["iban", "IBAN", "bank", "account (IBAN)"],
    "bank_account": ["account", "account no", "acct", "routing", "ABA", "account number", "bank account"],
    "national_id": ["ssn", "SSN", "national id", "NI number", "NINO", "Aadhaar", "id number", "personal id",
                    "ITIN", "PESEL", "BSN", "NIF", "DNI", "CPF", "personnummer", "codice fiscale"],
    "passport": ["passport", "passport no", "Passport number", "passport_no"],
    "tax_id": ["tax id", "TIN", "PAN", "VAT", "EIN", "tax number", "Steuer-ID", "vat_id"],
    "secret": ["password", "pwd", "pass", "api_key", "token", "secret", "Password", "apikey", "DB_URL",
               "connection string", "auth"],
    "ip": ["ip", "IP", "client_ip", "source address", "remote_addr"],
    "street_address": ["address", "Address", "ship to", "billing address", "Anschrift", "adresse", "addr"],
    "email_obfuscated": ["email", "mail", "contact"],
}
PROSE = {
    "email": ["reach them at {v}", "their email is {v}", "mail {v}", "reply to {v}", "from {v}", "cc {v}"],
    "email_obfuscated": ["email is {v}", "write to {v}", "reach me at {v}", "contact: {v}"],
    "phone": ["call back on {v}", "phone {v}", "reachable at {v}", "number is {v}", "mobile {v}", "at {v}",
              "tel {v}", "called from {v}", "dial {v}"],
    "card": ["card {v} was declined", "paid with {v}", "card number {v}", "charged {v} twice", "using card {v}"],
    "iban": ["refund to IBAN {v}", "pay to {v}", "bank details {v}", "IBAN: {v}", "transfer to account {v}"],
    "bank_account": ["account number {v}", "routing number {v}", "acct {v}", "bank account {v}",
                     "account no. {v}", "ABA {v}"],
    "national_id": ["SSN {v}", "national insurance number {v}", "NI number {v}", "Aadhaar {v}", "id number {v}",
                    "social security number {v}", "ITIN {v}", "personal identity number {v}", "ID {v}"],
    "passport": ["passport {v}", "passport number {v}", "passport no. {v}", "travel document {v}"],
    "tax_id": ["tax id {v}", "PAN {v}", "VAT number {v}", "EIN {v}", "tax number {v}", "TIN {v}"],
    "secret": ["password is {v}", "pwd: {v}", "used the password {v}", "api key {v}", "token {v}",
               "Authorization: Bearer {v}", "connection string {v}", "set API_KEY={v}", "temp pass {v}",
               "secret={v}", "login with {v}"],
    "ip": ["logged in from {v}", "IP {v}", "source {v}", "from address {v}", "blocked {v}", "client ip {v}"],
    "street_address": ["ship to {v}", "lives at {v}", "address: {v}", "deliver to {v}", "moved to {v}",
                       "billing address {v}"],
    "full_name": ["{v} {verb}", "spoke with {v}", "on behalf of {v}", "{v} is the account owner",
                  "{v} ({role})", "transferred to {v}", "customer {v}", "Mr. {v}", "Ms {v}", "Dr. {v}",
                  "from {v}", "for {v}", "{v} says hi", "ask {v}", "assigned to {v}"],
    "lone_name": ["{v} {verb}", "ask {v}", "spoke to {v}", "cc {v}", "Hi {v},", "thanks {v}", "{v} from billing",
                  "{v} approved it", "per {v}", "Mr {v}", "Mrs. {v}", "Dear {v},", "agent {v}"],
}
ROLES = ["account owner", "buyer", "tenant", "cardholder", "manager", "spouse", "next of kin", "agent"]
CLEAN = [
    "Order ORD-{n} shipped on {date} via {carrier}, tracking {track}.",
    "Refund of {cur} {amount} issued for invoice INV-{n}.",
    "Deployed version {ver} to staging at {time}; error rate back to {pct}%.",
    "Item {product} (SKU {sku}) is back in stock, {qty} units.",
    "HTTP {status} from the payment gateway between {time} and {time2}.",
    "Ticket {n} merged into {n2}; priority {prio}.",
    "The {product} was returned in its original packaging.",
    "Batch job {job} finished in {secs} seconds with {qty} rows.",
    "Customer wants the {product} in {colour} instead of {colour2}.",
    "Parcel left the {city} warehouse on {weekday}.",
    "Error code ERR-{code} appears when the cart has more than {qty} items.",
    "Promo code {promo} applied, discount {pct}%.",
    "Please check the logs for request {uuid}.",
    "Meeting moved to {weekday} {time}; agenda in the shared folder.",
    "Invoice total {cur} {amount}, due {date}, terms net {days}.",
    "Schema migration {ver} added column {column} to table {table}.",
    "Port {port} was closed after the firewall change {chg}.",
    "The {product} box was damaged, {qty} of {qty2} items intact.",
    "Reset the counter to {qty} and re-ran step {step}.",
    "Shipment weight {kg} kg, dimensions {dim}.",
]
PRODUCTS = ["Wireless Mouse", "Jordan Running Shoes", "Victoria Sponge Cake Mix", "Georgia Peach Jam",
            "Mechanical Keyboard", "Paris Eau de Parfum", "Desk Lamp", "Chelsea Boots", "Ergonomic Chair",
            "Stainless Steel Bottle", "Florence Linen Shirt", "Noise Cancelling Headphones", "Kindle Paperwhite",
            "Tommy Jeans Jacket", "Victoria's Secret Gift Set", "Chromebook 14", "Dyson V11", "Lego Technic Set"]
CARRIERS = ["DHL", "UPS", "FedEx", "DPD", "GLS", "Royal Mail", "La Poste", "PostNL", "Hermes"]
CITIES = ["Berlin", "Madrid", "Leeds", "Lyon", "Osaka", "Toronto", "Austin", "Milan", "Krakow", "Porto"]


class Corpus:
    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed * 7 + 3)
        self.gen = Generator(seed)

    def _n(self) -> str:
        return str(self.rnd.randint(1000, 9_999_999))

    def _fill(self, template: str) -> str:
        return template.replace("{n}", self._n())

    def value(self, kind: str) -> tuple[Value, str]:
        g = self.gen
        if kind == "date_of_birth":
            intro, v = g.date_of_birth()
            return v, f"{intro} {v.text}"
        v = {"full_name": g.full_name, "lone_name": g.lone_name, "email": g.email,
             "email_obfuscated": g.obfuscated_email, "phone": g.phone, "card": g.card, "iban": g.iban,
             "bank_account": g.bank_account, "national_id": g.national_id, "passport": g.passport,
             "tax_id": g.tax_id, "secret": g.secret, "ip": g.ip, "street_address": g.street_address}[kind]()
        return v, v.text

    def prose(self, kind: str, v: Value, shown: str) -> str:
        if kind == "date_of_birth":
            return self.rnd.choice(["customer {s}", "{s}", "the caller was {s}", "holder {s}", "verified {s}"]
                                   ).replace("{s}", shown)
        phrase = self.rnd.choice(PROSE[kind])
        return (phrase.replace("{v}", shown).replace("{verb}", self.rnd.choice(VERBS))
                .replace("{role}", self.rnd.choice(ROLES)))

    def sentence(self, kinds: list[str]) -> tuple[str, list[Value]]:
        values, parts = [], []
        opener = self._fill(self.rnd.choice(OPENERS))
        for kind in kinds:
            v, shown = self.value(kind)
            values.append(v)
            parts.append(self.prose(kind, v, shown))
        joiner = self.rnd.choice([", ", "; ", " and ", ". ", " - ", ", then "])
        body = joiner.join(parts)
        issue = self._fill(self.rnd.choice(ISSUES)) if self.rnd.random() < 0.5 else ""
        text = " ".join(p for p in [opener, body, issue] if p).strip()
        text = text + self.rnd.choice([".", ".", "!", "", "."]) + " " + self._fill(self.rnd.choice(CLOSERS))
        return text.strip(), values

    def snippet(self, kinds: list[str]) -> tuple[str, list[Value]]:
        """A record pasted into the text: key: value lines, CSV, XML, JSON, or a signature."""
        shape = self.rnd.choice(["kv", "csv", "xml", "json", "signature", "kv_inline"])
        values = []
        pairs = []
        for kind in kinds:
            v, shown = self.value(kind)
            values.append(v)
            if kind == "date_of_birth":
                key = self.rnd.choice(["dob", "DOB", "date_of_birth", "birth_date", "Geburtsdatum"])
                shown = v.text
            elif kind in ("full_name", "lone_name"):
                key = self.rnd.choice(NAME_KEYS)
            else:
                key = self.rnd.choice(KEY_FOR[kind])
            pairs.append((key, shown))
        intro = self.rnd.choice(["Pasted from the CRM:", "Record:", "Data from export:", "Customer details:",
                                 "Payload:", "", "Log excerpt:", "Form submission -"])
        if shape == "kv":
            body = "\n".join(f"{k}{self.rnd.choice([': ', ' = ', ':', ' - '])}{s}" for k, s in pairs)
        elif shape == "kv_inline":
            body = self.rnd.choice([", ", "; ", " | ", " "]).join(f"{k}={s}" for k, s in pairs)
        elif shape == "csv":
            sep = self.rnd.choice([",", ";", "\t", "|"])
            body = sep.join(k for k, _ in pairs) + "\n" + sep.join(
                f'"{s}"' if sep in s or "\n" in s else s.replace("\n", " ") for _, s in pairs)
        elif shape == "xml":
            tag = lambda k: re.sub(r"\W+", "_", k).strip("_") or "field"  # noqa: E731
            body = "<record>" + "".join(f"<{tag(k)}>{s}</{tag(k)}>" for k, s in pairs) + "</record>"
        elif shape == "json":
            body = json.dumps({k: s for k, s in pairs}, ensure_ascii=self.rnd.random() < 0.2)
            if "\\u" in body:  # escaped non-ASCII would not be the value as written; keep it readable
                body = json.dumps({k: s for k, s in pairs}, ensure_ascii=False)
        else:  # signature: name, role, then contact lines
            lines = [self.rnd.choice(["--", "Regards,", "Best,", "Thanks,", "Kind regards", "Cheers,", "Sent by"])]
            for k, s in pairs:
                lines.append(s if self.rnd.random() < 0.6 else f"{k}: {s}")
            if self.rnd.random() < 0.5:
                lines.insert(2, self.rnd.choice(["Senior Buyer", "Head of IT", "Accounts Payable", "Support Lead"]))
            body = "\n".join(lines)
        return (intro + ("\n" if intro else "") + body).strip(), values

    def text(self) -> Sample:
        kinds_all = ["full_name", "full_name", "lone_name", "lone_name", "email", "email_obfuscated", "phone",
                     "phone", "card", "iban", "bank_account", "national_id", "national_id", "passport", "tax_id",
                     "secret", "secret", "ip", "street_address", "street_address", "date_of_birth"]
        pieces, values = [], []
        for _ in range(self.rnd.choice([1, 1, 2, 2, 3])):
            kinds = [self.rnd.choice(kinds_all) for _ in range(self.rnd.choice([1, 1, 2, 3]))]
            text, vals = self.snippet(kinds) if self.rnd.random() < 0.35 else self.sentence(kinds)
            pieces.append(text)
            values += vals
        if self.rnd.random() < 0.3:
            pieces.insert(self.rnd.randrange(len(pieces) + 1), self.clean_sentence())
        text = self.rnd.choice(["\n", " ", "\n\n"]).join(pieces)
        if self.rnd.random() < 0.12:  # a name wrapped across a line break
            for v in values:
                if v.kind == "full_name" and " " in v.text and v.text in text:
                    text = text.replace(v.text, v.text.replace(" ", "\n", 1), 1)
                    v.text = v.text.replace(" ", "\n", 1)
                    break
        if self.rnd.random() < 0.08:
            text = text.upper()
        return Sample(text, values)

    def clean_sentence(self) -> str:
        r = self.rnd
        fills: dict[str, Callable[[], str]] = {
            "n": self._n,
            "n2": self._n,
            "date": lambda: f"2024-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
            "carrier": lambda: r.choice(CARRIERS),
            "track": lambda: f"1Z{r.randint(10**9, 10**10 - 1)}X",
            "cur": lambda: r.choice(["EUR", "USD", "GBP", "CHF"]),
            "amount": lambda: f"{r.randint(1, 2999)}.{r.randint(0, 99):02d}",
            "ver": lambda: f"v{r.randint(1, 9)}.{r.randint(0, 30)}.{r.randint(0, 9)}",
            "time": lambda: f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}",
            "time2": lambda: f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}",
            "pct": lambda: str(r.randint(1, 99)),
            "product": lambda: r.choice(PRODUCTS),
            "sku": lambda: f"SKU-{r.randint(10000, 99999)}-{r.choice('SMLX')}",
            "qty": lambda: str(r.randint(1, 500)),
            "qty2": lambda: str(r.randint(1, 500)),
            "status": lambda: r.choice(["500", "502", "503", "429", "404"]),
            "prio": lambda: r.choice(["P1", "P2", "P3"]),
            "job": lambda: f"nightly-{r.choice(['export', 'sync', 'billing'])}",
            "secs": lambda: str(r.randint(2, 900)),
            "colour": lambda: r.choice(["red", "navy", "black", "olive"]),
            "colour2": lambda: r.choice(["white", "grey"]),
            "city": lambda: r.choice(CITIES),
            "weekday": lambda: r.choice(["Monday", "Tuesday", "Friday", "Sunday"]),
            "code": lambda: str(r.randint(100, 9999)),
            "promo": lambda: r.choice(["SPRING24", "WELCOME10", "BF-2024"]),
            "uuid": lambda: f"{r.getrandbits(32):08x}-{r.getrandbits(16):04x}-4{r.getrandbits(12):03x}-"
                            f"a{r.getrandbits(12):03x}-{r.getrandbits(48):012x}",
            "days": lambda: r.choice(["30", "45", "60"]),
            "column": lambda: r.choice(["status", "updated_at", "flags"]),
            "table": lambda: r.choice(["orders", "shipments", "refunds"]),
            "port": lambda: str(r.choice([22, 443, 8080, 5432])),
            "chg": lambda: f"CHG{r.randint(100000, 999999)}",
            "step": lambda: str(r.randint(1, 12)),
            "kg": lambda: f"{r.randint(1, 40)}.{r.randint(0, 9)}",
            "dim": lambda: f"{r.randint(10, 90)}x{r.randint(10, 90)}x{r.randint(5, 60)} cm",
        }
        text = r.choice(CLEAN)
        for name, fill in fills.items():
            while "{" + name + "}" in text:
                text = text.replace("{" + name + "}", fill(), 1)
        prefix = r.choice(["", "", "Note: ", "Update - ", "FYI ", "Internal: "])
        text = prefix + text
        return text.upper() if r.random() < 0.05 else text.lower() if r.random() < 0.05 else text


# ---------------------------------------------------------------------------------------------- judging

_DIGIT_RUNS = re.compile(r"\d(?:[\d \-./()]*\d)?")


def survives(value: Value, redacted: str, redacted_words: set[str], redacted_digit_runs: list[str]) -> bool:
    if value.exact:
        return value.text in redacted
    for tok in value.tokens:
        if tok.lower() in redacted_words:
            return True
        if _NO_SPACE_SCRIPTS.search(tok) and tok in redacted:
            return True
    if value.digits and len(value.digits) >= 6:
        return any(value.digits in run for run in redacted_digit_runs)
    return False


def judge(samples: list[Sample], redacted: list[str]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"values": 0, "removed": 0})
    for sample, out in zip(samples, redacted, strict=True):
        words = {w.lower() for w in re.findall(r"\w+", out)}
        runs = [re.sub(r"\D", "", m.group()) for m in _DIGIT_RUNS.finditer(out)]
        for v in sample.values:
            c = counts[v.kind]
            c["values"] += 1
            c["removed"] += not survives(v, out, words, runs)
    return dict(counts)


IDENTIFYING = ["full_name", "email", "email_obfuscated", "phone", "card", "iban", "bank_account", "national_id",
               "passport", "tax_id", "secret", "ip", "street_address", "date_of_birth"]


def summary(counts: dict[str, dict[str, int]], clean: list[str], clean_out: list[str],
            timing: tuple[float, float], texts: int) -> dict[str, Any]:
    """Recall per kind and overall, share of PII-free sentences altered, texts per second of wall time and per
    second of this process's CPU time (steadier on a shared machine; with worker processes it leaves their CPU
    out, so only the wall figure compares)."""
    seconds, cpu = timing
    per_kind = {k: {**c, "recall": round(c["removed"] / c["values"], 4)} for k, c in sorted(counts.items())}
    ident = [counts[k] for k in IDENTIFYING if k in counts]
    removed, total = sum(c["removed"] for c in ident), sum(c["values"] for c in ident)
    altered = sum(a != b for a, b in zip(clean, clean_out, strict=True))
    return {
        "recall_identifying": round(removed / total, 4),
        "recall_lone_names": per_kind.get("lone_name", {}).get("recall"),
        "clean_sentences_altered": round(altered / len(clean), 4),
        "texts_per_s": round(texts / seconds, 1),
        "texts_per_cpu_s": round(texts / cpu, 1),
        "per_kind": per_kind,
    }


def build_corpus(seed: int, texts: int, clean: int) -> tuple[list[Sample], list[str]]:
    corpus = Corpus(seed)
    samples = [corpus.text() for _ in range(texts)]
    return samples, [corpus.clean_sentence() for _ in range(clean)]


def run_hfit(model: str, samples: list[Sample], clean: list[str], rules: bool = True, workers: int = 1,
             ner_everywhere: bool = False, direct: bool = True) -> tuple[list[str], list[str], tuple[float, float]]:
    analyzer = TextAnalyzer(model, free_text_rules=rules, ner_where_undecided=not ner_everywhere, direct=direct)
    redactor = TextRedactor(analyzer, KEY, cache_size=0, workers=workers)
    # engine, gazetteers and worker processes (each loading the model) started outside the timing
    redactor.redact_many([f"warm up {i}: call Maria Lopez on +1 202 555 {i:04d}" for i in range(64)])
    texts = [s.text for s in samples] + clean
    started, cpu = time.perf_counter(), time.process_time()
    out = redactor.redact_many(texts)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    redactor.close()
    return out[: len(samples)], out[len(samples) :], (seconds, cpu)


def _stock_anonymizer() -> Callable[[str, list[Any]], str]:
    """Presidio's AnonymizerEngine (default operator: replace each span by ``<ENTITY>``, its own conflict
    resolution); without the presidio-anonymizer package, the bench's right-to-left replacement."""
    try:
        from presidio_anonymizer import AnonymizerEngine
    except ImportError:
        return _replace_spans
    anonymizer = AnonymizerEngine()
    return lambda text, results: anonymizer.anonymize(text=text, analyzer_results=results).text


def run_presidio(model: str, samples: list[Sample], clean: list[str]) -> tuple[list[str], list[str], float]:
    engine = stock_engine(model)
    anonymize = _stock_anonymizer()
    anonymize("warm up: call Maria Lopez", engine.analyze(text="warm up: call Maria Lopez", language="en"))
    texts = [s.text for s in samples] + clean
    started, cpu = time.perf_counter(), time.process_time()
    out = [anonymize(t, engine.analyze(text=t, language="en")) for t in texts]
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return out[: len(samples)], out[len(samples) :], (seconds, cpu)


def _table(name: str, result: dict[str, Any]) -> str:
    return f"{name:>9}: identifying {result['recall_identifying']:.2%}, " \
           f"lone names {result['recall_lone_names']:.2%}, " \
           f"clean altered {result['clean_sentences_altered']:.2%}, {result['texts_per_s']:,.0f} texts/s " \
           f"({result['texts_per_cpu_s']:,.0f} per CPU s)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=HELD_OUT_SEED,
                        help=f"corpus seed (default {HELD_OUT_SEED}, the held-out seed; develop on others)")
    parser.add_argument("--texts", type=int, default=3000)
    parser.add_argument("--clean", type=int, default=1000, help="PII-free sentences")
    parser.add_argument("--model", default=DEFAULT_NLP_MODEL)
    parser.add_argument("--no-presidio", action="store_true", help="skip the stock Presidio run")
    parser.add_argument("--no-rules", action="store_true",
                        help="hfit without its own free-text rules (Presidio and the NER model only)")
    parser.add_argument("--ner-everywhere", action="store_true",
                        help="run the NER model on every text (the reference path), not only where words are undecided")
    parser.add_argument("--no-direct", action="store_true",
                        help="hfit through Presidio's AnalyzerEngine (the reference path), not its direct fast path")
    parser.add_argument("--workers", type=int, default=1, help="hfit's text_workers (processes analyzing texts)")
    parser.add_argument("--show-misses", type=int, default=0, help="print this many surviving values per kind")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    samples, clean = build_corpus(args.seed, args.texts, args.clean)
    report: dict[str, Any] = {"seed": args.seed, "texts": len(samples), "clean_sentences": len(clean),
                              "values": sum(len(s.values) for s in samples), "model": args.model}
    out, clean_out, seconds = run_hfit(args.model, samples, clean, rules=not args.no_rules, workers=args.workers,
                                       ner_everywhere=args.ner_everywhere, direct=not args.no_direct)
    report["hfit_ner_everywhere"] = args.ner_everywhere
    report["hfit_direct"] = not args.no_direct
    report["hfit_workers"] = args.workers
    report["hfit_rules"] = not args.no_rules
    report["hfit"] = summary(judge(samples, out), clean, clean_out, seconds, len(samples) + len(clean))
    if args.show_misses:
        shown: Counter[str] = Counter()
        for sample, red in zip(samples, out, strict=True):
            words = {w.lower() for w in re.findall(r"\w+", red)}
            runs = [re.sub(r"\D", "", m.group()) for m in _DIGIT_RUNS.finditer(red)]
            for v in sample.values:
                if survives(v, red, words, runs) and shown[v.kind] < args.show_misses:
                    shown[v.kind] += 1
                    print(f"MISS {v.kind}: {v.text!r}\n   in: {sample.text!r}\n  out: {red!r}")
        for a, b in zip(clean, clean_out, strict=True):
            if a != b and shown["clean"] < args.show_misses:
                shown["clean"] += 1
                print(f"ALTERED: {a!r}\n     -> {b!r}")
    if not args.no_presidio:
        # stock Presidio needs a spaCy model: in regex mode it keeps the default one
        p_out, p_clean, p_seconds = run_presidio(DEFAULT_NLP_MODEL if args.model == "regex" else args.model,
                                                 samples, clean)
        report["presidio"] = summary(judge(samples, p_out), clean, p_clean, p_seconds, len(samples) + len(clean))
        report["speedup"] = round(report["hfit"]["texts_per_s"] / report["presidio"]["texts_per_s"], 1)
        report["speedup_cpu"] = round(report["hfit"]["texts_per_cpu_s"] / report["presidio"]["texts_per_cpu_s"], 1)
    print(f"seed {args.seed}: {len(samples)} texts, {report['values']} labelled values, "
          f"{len(clean)} PII-free sentences")
    kinds = sorted(report["hfit"]["per_kind"])
    print(f"{'kind':>18} {'values':>7} {'hfit':>8} {'presidio':>9}")
    for k in kinds:
        h = report["hfit"]["per_kind"][k]
        p = report.get("presidio", {}).get("per_kind", {}).get(k, {})
        print(f"{k:>18} {h['values']:>7} {h['recall']:>8.2%} {p.get('recall', float('nan')):>9.2%}")
    print(_table("hfit", report["hfit"]))
    if "presidio" in report:
        print(_table("presidio", report["presidio"]))
        print(f"throughput ratio hfit/presidio: {report['speedup']}x wall, {report['speedup_cpu']}x CPU")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
