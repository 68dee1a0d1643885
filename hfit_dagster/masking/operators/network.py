"""Network operators' fakes: IP addresses into private or documentation ranges, so a fake never reaches a real
host; interfaces and networks (``inet``/``cidr``) keep their prefix length; MAC addresses stay MAC addresses."""

from __future__ import annotations

import ipaddress
import re

import pyarrow as pa

from hfit_dagster.masking.operators.base import StringOperator
from hfit_dagster.masking.operators.keyed import keyed_digest, shape_preserve

# six or eight hex octets with one separator (08:00:2b:01:02:03, 08-00-2B-...), or three dotted groups of four
MAC_ADDRESS = re.compile(r"^[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}(?:[0-9A-Fa-f]{2}\1[0-9A-Fa-f]{2}\1)?"
                         r"[0-9A-Fa-f]{2}$|^[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}$")


class IpAddressOperator(StringOperator):
    """IPv4 into 10.0.0.0/8, IPv6 into the documentation prefix 2001:db8::/32; anything else shape-kept.

    A value with a prefix (``inet``/``cidr``: ``192.168.0.0/16``, ``10.0.0.1/8``) keeps its prefix length: a
    network (host bits zero) becomes the network of the fake address, so it is a valid ``cidr`` too; an interface
    keeps its fake address. Python per distinct value (not guaranteed unique). In a column too short for an IPv6
    fake, the fake is the IPv4 one of the same value.
    """

    name = "ip_address"

    def fake(self, value: str, key: bytes) -> str:
        text = value.strip()
        try:
            interface = ipaddress.ip_interface(text)
        except ValueError:
            return shape_preserve(key, self.name, value)
        ip = interface.ip
        address = self._address(key, ip.compressed, ip.version)
        if "/" not in text:
            return str(address)
        prefix = interface.network.prefixlen
        if ip == interface.network.network_address and prefix < interface.max_prefixlen:
            return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
        return f"{address}/{prefix}"

    @staticmethod
    def _address(key: bytes, text: str, version: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        d = keyed_digest(key, "ip_address", text)
        if version == 4:
            return ipaddress.IPv4Address((10 << 24) | int.from_bytes(d[:3], "big"))
        return ipaddress.IPv6Address((0x20010DB8 << 96) | int.from_bytes(d[:12], "big"))

    def shorten(self, fakes: pa.Array, max_length: int) -> pa.Array:
        """An IPv6 fake too long for its column becomes an IPv4 fake (derived from the IPv6 fake); an IPv4 fake too
        long for it keeps 10.0.0 and its last octet (at most 10 characters)."""
        out = []
        for fake in fakes.to_pylist():
            address, _, prefix = fake.partition("/")
            if ":" in address:
                address = str(self._address(b"", address, 4))
                prefix = str(min(int(prefix), 32)) if prefix else ""
            if len(address) + (len(prefix) + 1 if prefix else 0) > max_length:
                address = "10.0.0." + address.rsplit(".", 1)[1]
            out.append(f"{address}/{prefix}" if prefix else address)
        return pa.array(out, pa.string())


def mac_fake(key: bytes, operator: str, value: str) -> str:
    """A valid MAC address for a MAC-shaped value: keyed hex digits in the value's layout and case, the first
    octet locally administered and unicast (no vendor's address)."""
    digits = [c for c in value if c.isalnum()]
    d = keyed_digest(key, f"{operator}/mac", value.lower())
    fake = [f"{b:02x}" for b in d[: len(digits) // 2]]
    fake[0] = f"{(int(fake[0], 16) | 0x02) & 0xFE:02x}"
    hex_digits = iter("".join(fake))
    upper = any(c.isupper() for c in digits)
    return "".join((next(hex_digits).upper() if upper else next(hex_digits)) if c.isalnum() else c for c in value)
