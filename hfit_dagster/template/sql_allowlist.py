"""What a template query may call and read, per source dialect: data, read by ``template/query.py``.

The guard is an allowlist. A function is named here by sqlglot's canonical name for it (``LPAD`` and ``RPAD``
parse as ``PAD``, ``IFNULL`` as ``COALESCE``); a name sqlglot does not know is its upper-cased spelling. Every
function that is not listed is refused, whatever it does: side effects (locks, sequences, notifications,
statistics resets, WAL switches), file or large-object access, SQL evaluated from a string (``query_to_xml``,
``dblink``), sleeps, and session or server information (``VERSION()``, ``USER()``, ``DATABASE()``).

Extend a list only with functions that compute a value from their arguments or the clock and read no table.
"""

from __future__ import annotations

# Dialect names as sqlglot spells them; extract maps SQLAlchemy's (mysql, mariadb, postgresql, sqlite) to these.
DIALECTS = ("mysql", "postgres", "sqlite")

_AGGREGATES = {
    "COUNT", "SUM", "AVG", "MIN", "MAX", "GROUP_CONCAT", "ARRAY_AGG", "STDDEV", "STDDEV_POP", "STDDEV_SAMP",
    "VARIANCE", "VARIANCE_POP", "ANY_VALUE", "BITWISE_AND_AGG", "BITWISE_OR_AGG", "LOGICAL_OR", "LOGICAL_AND",
}
_WINDOWS = {
    "ROW_NUMBER", "RANK", "DENSE_RANK", "LAG", "LEAD", "FIRST_VALUE", "LAST_VALUE", "NTH_VALUE", "NTILE",
    "PERCENT_RANK", "CUME_DIST",
}
_CONDITIONALS = {"COALESCE", "NULLIF", "IF", "GREATEST", "LEAST"}
_STRINGS = {
    "LOWER", "UPPER", "LENGTH", "SUBSTRING", "TRIM", "CONCAT", "CONCAT_WS", "REPLACE", "LEFT", "RIGHT", "PAD",
    "REVERSE", "STR_POSITION", "SPLIT_PART", "REGEXP_LIKE", "REGEXP_REPLACE", "REGEXP_SUBSTR", "REGEXP_ILIKE",
    "ASCII", "CHR", "MD5", "SHA", "SHA2", "HEX", "UNHEX", "INITCAP", "REPEAT", "ELT", "TRANSLATE",
    "NUMBER_TO_STR", "FORMAT", "OCTET_LENGTH", "BIT_LENGTH",
}
_NUMBERS = {
    "ABS", "CEIL", "FLOOR", "ROUND", "TRUNC", "POWER", "SQRT", "EXP", "LN", "LOG", "SIGN", "RAND", "PI",
    "CBRT", "DEGREES", "RADIANS", "SIN", "COS", "TAN", "ASIN", "ACOS", "ATAN", "ATAN2",
}
_TIME = {
    "CURRENT_TIMESTAMP", "CURRENT_DATE", "CURRENT_TIME", "UTC_TIMESTAMP", "LOCALTIMESTAMP", "DATE", "TIME",
    "YEAR", "MONTH", "DAY", "DAY_OF_WEEK", "DAY_OF_MONTH", "DAY_OF_YEAR", "HOUR", "MINUTE", "SECOND", "WEEK",
    "WEEK_OF_YEAR", "QUARTER", "EXTRACT", "DATE_ADD", "DATE_SUB", "DATEDIFF", "TIMESTAMPDIFF", "TIMESTAMP_DIFF",
    "TIME_TO_STR", "STR_TO_DATE", "STR_TO_TIME", "DATE_TRUNC", "TIMESTAMP_TRUNC", "TO_CHAR", "UNIX_TO_TIME",
    "TIME_TO_UNIX", "TS_OR_DS_TO_DATE", "TS_OR_DS_TO_TIMESTAMP", "TS_OR_DS_ADD", "LAST_DAY", "DATETIME",
    "TIMESTAMP", "INTERVAL", "DATE_STR_TO_DATE", "TIME_STR_TO_TIME",
}
_CASTS = {"CAST", "TRY_CAST"}
_JSON = {"JSON_EXTRACT", "JSON_EXTRACT_SCALAR", "JSONB_EXTRACT", "JSONB_EXTRACT_SCALAR", "J_S_O_N_OBJECT",
         "JSON_TYPE", "JSON_FORMAT", "JSON_ARRAY_CONTAINS"}
# Syntax sqlglot models as function calls.
_SYNTAX = {"CASE", "EXISTS", "ANY", "ALL", "ROW", "ARRAY", "STRUCT"}
_OTHER = {"UUID", "ARRAY_SIZE", "TYPEOF", "SOUNDEX", "PERCENTILE_CONT", "PERCENTILE_DISC"}

COMMON_FUNCTIONS = frozenset(_AGGREGATES | _WINDOWS | _CONDITIONALS | _STRINGS | _NUMBERS | _TIME | _CASTS | _JSON
                             | _SYNTAX | _OTHER)

# Functions sqlglot does not model, by their own name, per dialect.
DIALECT_FUNCTIONS: dict[str, frozenset[str]] = {
    "mysql": frozenset({
        "NOW", "CURDATE", "CURTIME", "SYSDATE", "ADDDATE", "SUBDATE", "MAKEDATE", "MAKETIME", "UNIX_TIMESTAMP",
        "FROM_UNIXTIME", "DATE_FORMAT", "TIME_FORMAT", "DAYNAME", "MONTHNAME", "WEEKDAY", "YEARWEEK", "TO_DAYS",
        "FROM_DAYS", "PERIOD_DIFF", "CONVERT_TZ", "FIELD", "FIND_IN_SET", "INSTR", "LOCATE", "MID", "SUBSTRING_INDEX",
        "SPACE", "STRCMP", "SOUNDEX", "BIN", "OCT", "CONV", "CRC32", "TRUNCATE", "JSON_UNQUOTE", "JSON_LENGTH",
        "JSON_CONTAINS", "JSON_CONTAINS_PATH", "JSON_KEYS", "JSON_VALID", "JSON_ARRAY", "JSON_ARRAYAGG",
        "JSON_OBJECTAGG", "JSON_DEPTH", "JSON_SEARCH", "JSON_QUOTE", "INET_ATON", "INET_NTOA", "INET6_ATON",
        "INET6_NTOA", "MATCH_AGAINST", "OCTET_LENGTH", "CHAR_LENGTH", "ISNULL", "COMPRESS", "UNCOMPRESS",
        "TO_BASE64", "FROM_BASE64",
    }),
    "postgres": frozenset({
        "AGE", "NOW", "CLOCK_TIMESTAMP", "STATEMENT_TIMESTAMP", "TRANSACTION_TIMESTAMP", "DATE_PART", "TO_DATE",
        "TO_TIMESTAMP", "TO_NUMBER", "MAKE_DATE", "MAKE_TIMESTAMP", "MAKE_INTERVAL", "JUSTIFY_DAYS", "ISFINITE",
        "JSONB_EXTRACT_PATH", "JSONB_EXTRACT_PATH_TEXT", "JSON_EXTRACT_PATH", "JSONB_ARRAY_LENGTH",
        "JSON_ARRAY_LENGTH", "JSONB_TYPEOF", "JSON_TYPEOF", "JSONB_BUILD_OBJECT", "JSON_BUILD_OBJECT",
        "JSONB_AGG", "JSON_AGG", "JSONB_OBJECT_AGG", "TO_JSON", "TO_JSONB", "ROW_TO_JSON", "JSONB_ARRAY_ELEMENTS",
        "JSONB_ARRAY_ELEMENTS_TEXT", "CARDINALITY", "ARRAY_POSITION", "ARRAY_TO_STRING", "STRING_TO_ARRAY",
        "ARRAY_APPEND", "ARRAY_CAT", "ARRAY_REMOVE", "OCTET_LENGTH", "CHAR_LENGTH", "BTRIM", "ENCODE", "DECODE",
        "EVERY", "BOOL_AND", "BOOL_OR", "STRING_AGG", "REGEXP_MATCH", "REGEXP_MATCHES", "REGEXP_SPLIT_TO_ARRAY",
        "SPLIT_PART", "FORMAT", "QUOTE_IDENT", "QUOTE_LITERAL", "HOST", "MASKLEN", "NETWORK", "FAMILY", "LOWER_INC",
        "UPPER_INC", "ISEMPTY", "GEN_RANDOM_UUID", "WIDTH_BUCKET", "DIV", "EXPLODE", "EXPLODING_GENERATE_SERIES",
        "GENERATE_SERIES", "UNNEST", "NUM_NONNULLS", "NUM_NULLS", "PERCENTILE_CONT", "PERCENTILE_DISC", "MODE",
    }),
    "sqlite": frozenset({
        "DATETIME", "JULIANDAY", "STRFTIME", "UNIXEPOCH", "TIME", "DATE", "IIF", "IFNULL", "INSTR", "PRINTF",
        "TOTAL", "JSON_EXTRACT", "JSON_ARRAY", "JSON_OBJECT", "JSON_ARRAY_LENGTH", "JSON_TYPE", "JSON_VALID",
        "JSON_GROUP_ARRAY", "JSON_GROUP_OBJECT", "JSON_QUOTE", "LIKELIHOOD", "LIKELY", "UNLIKELY", "UNICODE",
        "TYPEOF", "SUBSTR", "GLOB", "QUOTE", "OCTET_LENGTH",
    }),
}

# Schemas (MySQL: databases) that hold server state, never the provider's data.
SYSTEM_SCHEMAS = frozenset({
    "information_schema", "mysql", "performance_schema", "sys", "pg_catalog", "pg_toast", "pg_temp", "temp",
})
# Table names that resolve to system catalogs without a schema (PostgreSQL's pg_catalog is searched first).
SYSTEM_TABLE_PREFIXES = ("pg_", "sqlite_")


def allowed_functions(dialect: str) -> frozenset[str]:
    """The functions a template query may call on a source of ``dialect``."""
    return COMMON_FUNCTIONS | DIALECT_FUNCTIONS[dialect]


def any_dialect_functions() -> frozenset[str]:
    """Functions allowed on at least one dialect: what a template can use before its source is known."""
    return COMMON_FUNCTIONS.union(*DIALECT_FUNCTIONS.values())
