"""A corpus of SQL injection payloads: classic, stacked, comments, UNION, time-based, encoding tricks.

Built from hand-written seeds and systematic variants (encodings, case, comment styles), so the corpus is
large without being a copy of any list. Used by the security tests against every parameter type.
"""

from __future__ import annotations

import urllib.parse

SEEDS = [
    # classic tautologies
    "' OR '1'='1", "' OR 1=1 -- ", "\" OR \"\"=\"", "' OR ''='", "1 OR 1=1", "1' OR '1'='1' /*", "admin'--",
    "') OR ('1'='1", "')) OR (('1'='1", "' OR 'x'='x';", "1) OR (1=1", "x' AND email IS NULL; --",
    # stacked queries
    "1; DROP TABLE canary", "'; DROP TABLE canary; --", "1; DELETE FROM canary", "'; UPDATE canary SET v='x'; --",
    "1; INSERT INTO canary VALUES (99,'pwned'); --", "'; TRUNCATE canary; --", "1; CREATE TABLE pwned (x int)",
    "'; GRANT ALL ON *.* TO 'evil'@'%'; --", "1;SHUTDOWN", "'; SET GLOBAL general_log = 0; --",
    # comments
    "1/**/OR/**/1=1", "1 -- comment", "1 # comment", "1/*! OR 1=1 */", "'/**/OR/**/''='", "1--+",
    "1;--", "'#", "*/ OR 1=1 /*", "1 /*!50000UNION*/ SELECT 1",
    # UNION based
    "' UNION SELECT NULL--", "' UNION SELECT 1,2,3--", "1 UNION ALL SELECT user()", "' UNION SELECT @@version --",
    "' UNION SELECT table_name FROM information_schema.tables --", "0 UNION SELECT password FROM mysql.user",
    "') UNION SELECT v FROM canary --", "1 UNION SELECT LOAD_FILE('/etc/passwd')",
    # time based / blind
    "1 AND SLEEP(5)", "' AND SLEEP(5) --", "1 AND BENCHMARK(10000000,MD5(1))", "'; SELECT pg_sleep(5); --",
    "1 AND (SELECT 1 FROM (SELECT SLEEP(5))x)", "' OR IF(1=1, SLEEP(5), 0) --", "1 WAITFOR DELAY '0:0:5'",
    "' AND GET_LOCK('x', 5) --", "1 AND 1=(SELECT COUNT(*) FROM information_schema.columns A, "
    "information_schema.columns B)",
    # error based / misc
    "' AND extractvalue(1, concat(0x7e, version())) --", "' AND updatexml(1, concat(0x7e, user()), 1) --",
    "1 AND 1=CONVERT(int, @@version)", "' || (SELECT v FROM canary LIMIT 1) || '", "1' INTO OUTFILE '/tmp/x",
    "0x27204f5220313d31", "CHAR(39)+CHAR(79)+CHAR(82)", "'; EXEC xp_cmdshell('id'); --", "$$; DROP TABLE canary; $$",
    "E'\\x27 OR 1=1'", ":name", "%s", "?", "{0}", "${jndi:ldap://x}", "\\'; DROP TABLE canary; --",
    "\\\\'", "\\x00' OR 1=1", "'\x00 OR 1=1 --", "' OR 1=1\x1a", "line\nbreak' OR '1'='1",
    "2024-10-15 14:30:00' OR '1'='1", "12847) OR (1=1", "12847,15923) OR (1=1", "1e309", "-0", "NaN",
    "9223372036854775808", "true' OR 'a'='a", "null", "NULL; --",
]


def _variants(seed: str) -> list[str]:
    return [
        seed,
        seed.upper(),
        urllib.parse.quote(seed),
        urllib.parse.quote(urllib.parse.quote(seed)),
        seed.replace("'", "\uff07").replace(" ", "\u00a0"),  # fullwidth apostrophe, no-break space
        seed.replace(" ", "/**/"),
        seed.replace("'", "\\'"),
    ]


def payloads() -> list[str]:
    seen: dict[str, None] = {}
    for seed in SEEDS:
        for variant in _variants(seed):
            seen.setdefault(variant, None)
    return list(seen)


PAYLOADS = payloads()
assert len(PAYLOADS) >= 200
