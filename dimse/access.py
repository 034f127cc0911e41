"""Which calling AE titles (and, optionally, from which hosts) may open an association, and for which site.

An entry of ``ONCOPORTAL_DICOM_ALLOWED`` is ``AE``, ``AE@host``, ``AE=SITE`` or
``AE@host=SITE``: the studies a peer sends go to its ``SITE`` (a site code),
else to ``ONCOPORTAL_DICOM_SITE``. The first entry that matches a peer decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SITE_CODE = re.compile(r"^[-a-zA-Z0-9_]+$")  # cases.Site.code is a slug


@dataclass(frozen=True)
class AllowedPeer:
    ae_title: str
    host: str = ""  # empty: from any host
    site: str = ""  # empty: the listener's default site

    def matches(self, ae_title: str, host: str) -> bool:
        return ae_title.strip() == self.ae_title and (not self.host or host == self.host)

    def __str__(self) -> str:
        peer = f"{self.ae_title}@{self.host}" if self.host else self.ae_title
        return f"{peer}={self.site}" if self.site else peer


@dataclass(frozen=True)
class AccessPolicy:
    """``peers`` empty means: everyone when ``open_when_empty`` (development), no one otherwise."""

    peers: tuple[AllowedPeer, ...]
    open_when_empty: bool

    @classmethod
    def parse(cls, entries: list[str], *, open_when_empty: bool) -> AccessPolicy:
        """Entries are ``AE``, ``AE@host``, ``AE=SITE`` or ``AE@host=SITE``; raises ValueError naming a bad one."""
        peers = []
        for entry in entries:
            peer, has_site, site = entry.strip().rpartition("=") if "=" in entry else (entry, "", "")
            ae_title, _, host = peer.strip().partition("@")
            ae_title, host, site = ae_title.strip(), host.strip(), site.strip()
            if not 1 <= len(ae_title) <= 16 or "\\" in ae_title:
                raise ValueError(f"{entry!r}: an AE title is 1 to 16 characters with no backslash")
            if "@" in peer and not host:
                raise ValueError(f"{entry!r}: a host is expected after '@'")
            if has_site and not _SITE_CODE.match(site):
                raise ValueError(f"{entry!r}: a site code (letters, digits, '-', '_') is expected after '='")
            peers.append(AllowedPeer(ae_title, host, site))
        return cls(peers=tuple(peers), open_when_empty=open_when_empty)

    def allows(self, ae_title: str, host: str) -> bool:
        if not self.peers:
            return self.open_when_empty
        return any(peer.matches(ae_title, host) for peer in self.peers)

    def site_for(self, ae_title: str, host: str) -> str:
        """The site code of the first entry matching the peer; '' for the listener's default site."""
        return next((peer.site for peer in self.peers if peer.matches(ae_title, host)), "")

    def site_codes(self) -> set[str]:
        """Every site code the entries name."""
        return {peer.site for peer in self.peers if peer.site}

    def needs_default_site(self) -> bool:
        """Some peer may send without a site of its own (an entry without one, or the open development list)."""
        return not self.peers or any(not peer.site for peer in self.peers)

    def describe(self) -> str:
        if self.peers:
            return ", ".join(str(p) for p in self.peers)
        return "any calling AE (development default)" if self.open_when_empty else "no one (list empty)"
