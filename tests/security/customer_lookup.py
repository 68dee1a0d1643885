"""The template the parameter-privacy tests build: a customer looked up by e-mail or id for a support case, so
its parameter values are personal data (the API, the audit, the stored builds must not keep them)."""

TEMPLATE = "customer-lookup"
LOOKUP = f"""templateName: {TEMPLATE}
description: A customer's record, looked up by email or id for a support case.
status: approved
owner: support
parameters:
  who: {{type: str, default: "nobody@example.invalid"}}
  customer_ids: {{type: "list[int]", default: "1"}}
exports:
  customers:
    provider: PROD_REPLICA
    query: SELECT * FROM customers WHERE email = :who OR id IN :customer_ids
"""
CUSTOMER = "12847"
