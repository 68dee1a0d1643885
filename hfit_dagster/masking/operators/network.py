"""The IP address operator: into private or documentation ranges, so a fake never reaches a real host."""

from __future__ import annotations

import ipaddress

from hfit_dagster.masking.operators.base import StringOperator
from hfit_dagster.masking.operators.keyed import keyed_digest, shape_preserve


class IpAddressOperator(StringOperator):
    """IPv4 into 10.0.0.0/8, IPv6 into the documentation prefix 2001:db8::/32; anything else shape-kept.
    Python per distinct value (not guaranteed unique)."""

    name = "ip_address"

    def fake(self, value: str, key: bytes) -> str:
        try:
            ip = ipaddress.ip_address(value.strip())
        except ValueError:
            return shape_preserve(key, self.name, value)
        d = keyed_digest(key, self.name, ip.compressed)
        if ip.version == 4:
            return str(ipaddress.IPv4Address((10 << 24) | int.from_bytes(d[:3], "big")))
        return str(ipaddress.IPv6Address((0x20010DB8 << 96) | int.from_bytes(d[:12], "big")))
