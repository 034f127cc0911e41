"""Which calling AE titles (and, optionally, from which hosts) may open an association."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AllowedPeer:
    ae_title: str
    host: str = ""  # empty: from any host

    def matches(self, ae_title: str, host: str) -> bool:
        return ae_title.strip() == self.ae_title and (not self.host or host == self.host)

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}" if self.host else self.ae_title


@dataclass(frozen=True)
class AccessPolicy:
    """``peers`` empty means: everyone when ``open_when_empty`` (development), no one otherwise."""

    peers: tuple[AllowedPeer, ...]
    open_when_empty: bool

    @classmethod
    def parse(cls, entries: list[str], *, open_when_empty: bool) -> AccessPolicy:
        """Entries are ``AE`` or ``AE@host``; raises ValueError naming a bad one."""
        peers = []
        for entry in entries:
            ae_title, _, host = entry.strip().partition("@")
            ae_title, host = ae_title.strip(), host.strip()
            if not 1 <= len(ae_title) <= 16 or "\\" in ae_title:
                raise ValueError(f"{entry!r}: an AE title is 1 to 16 characters with no backslash")
            if "@" in entry and not host:
                raise ValueError(f"{entry!r}: a host is expected after '@'")
            peers.append(AllowedPeer(ae_title, host))
        return cls(peers=tuple(peers), open_when_empty=open_when_empty)

    def allows(self, ae_title: str, host: str) -> bool:
        if not self.peers:
            return self.open_when_empty
        return any(peer.matches(ae_title, host) for peer in self.peers)

    def describe(self) -> str:
        if self.peers:
            return ", ".join(str(p) for p in self.peers)
        return "any calling AE (development default)" if self.open_when_empty else "no one (list empty)"
