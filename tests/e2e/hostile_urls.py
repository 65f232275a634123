"""Hostile URL forms, by category. `{p}` is the trap's port: every form whose address is loopback aims at
the trap listener, so a form that slipped through would be seen connecting. Forms aimed elsewhere
(10.0.0.1, 169.254.169.254 …) must be refused at creation and are therefore never dialled.

REFUSED: creation answers 422 naming the URL field. BLOCKED: creation accepts the URL (a name: it is not
resolved at creation) and delivery records `blocked_target` without any connection."""

from __future__ import annotations

REFUSED = "refused"
BLOCKED = "blocked"

# (category, url template, expected)
HOSTILE: list[tuple[str, str, str]] = [
    # Unicode digits and dots: UTS-46 turns them into the address they are, which the guard refuses.
    ("unicode", "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11:{p}/", REFUSED),  # fullwidth digits
    ("unicode", "http://127\u30020\u30020\u30021:{p}/", REFUSED),  # ideographic full stops
    ("unicode", "http://127\uff0e0\uff0e0\uff0e1:{p}/", REFUSED),  # fullwidth full stops
    ("unicode", "http://127\uff610\uff610\uff611:{p}/", REFUSED),  # halfwidth ideographic full stops
    ("unicode", "http://\uff11\uff10.\uff10.\uff10.\uff11/", REFUSED),  # fullwidth 10.0.0.1
    ("unicode", "http://169\u3002254\u3002169\u3002254/", REFUSED),
    ("unicode", "http://\u2460\u2461\u2466.0.0.1:{p}/", REFUSED),  # circled digits
    ("unicode", "http://\U0001d7cf\U0001d7d0\U0001d7d5.0.0.1:{p}/", REFUSED),  # mathematical bold digits
    ("unicode", "http://\u0661\u0662\u0667.\u0660.\u0660.\u0661:{p}/", REFUSED),  # Arabic-Indic digits
    ("unicode", "http://\uff11\uff12\uff17.\uff11:{p}/", REFUSED),  # fullwidth 127.1
    # Non-canonical numeric hosts: refused, never reinterpreted.
    ("numeric", "http://127.1:{p}/", REFUSED),
    ("numeric", "http://127.0.1:{p}/", REFUSED),
    ("numeric", "http://2130706433:{p}/", REFUSED),
    ("numeric", "http://017700000001:{p}/", REFUSED),
    ("numeric", "http://0177.0.0.1:{p}/", REFUSED),
    ("numeric", "http://0x7f.0.0.1:{p}/", REFUSED),
    ("numeric", "http://0x7f000001:{p}/", REFUSED),
    ("numeric", "http://0X7F.1:{p}/", REFUSED),
    ("numeric", "http://127.000.000.001:{p}/", REFUSED),
    ("numeric", "http://127.0.0.01:{p}/", REFUSED),
    ("numeric", "http://127.0.0.1.:{p}/", REFUSED),
    ("numeric", "http://127.0.0.1..:{p}/", REFUSED),
    ("numeric", "http://0:{p}/", REFUSED),
    ("numeric", "http://0x0:{p}/", REFUSED),
    ("numeric", "http://00000177.0.0.1:{p}/", REFUSED),
    ("numeric", "http://2852039166/", REFUSED),  # 169.254.169.254
    ("numeric", "http://0xa9fea9fe/", REFUSED),
    ("numeric", "http://0251.0376.0251.0376/", REFUSED),
    ("numeric", "http://169.254.43518/", REFUSED),
    ("numeric", "http://0xA9.0xFE.0xA9.0xFE/", REFUSED),
    ("numeric", "http://167772161/", REFUSED),  # 10.0.0.1
    ("numeric", "http://012.0.0.1/", REFUSED),
    ("numeric", "http://0xa.0.0.1/", REFUSED),
    ("numeric", "http://10.1/", REFUSED),
    ("numeric", "http://3232235521/", REFUSED),  # 192.168.0.1
    ("numeric", "http://0300.0250.0.1/", REFUSED),
    ("numeric", "http://0xc0.0xa8.0.1/", REFUSED),
    ("numeric", "http://192.168.1/", REFUSED),
    ("numeric", "http://1.2.3.4.5/", REFUSED),
    ("numeric", "http://256.0.0.1/", REFUSED),
    # Canonical IPv4 literals in every private, reserved and special range.
    ("ipv4", "http://127.0.0.1:{p}/", REFUSED),
    ("ipv4", "http://127.255.255.254/", REFUSED),
    ("ipv4", "http://10.0.0.1/", REFUSED),
    ("ipv4", "http://172.16.0.1/", REFUSED),
    ("ipv4", "http://172.31.255.254/", REFUSED),
    ("ipv4", "http://192.168.0.1/", REFUSED),
    ("ipv4", "http://169.254.169.254/latest/meta-data/", REFUSED),
    ("ipv4", "http://100.64.0.1/", REFUSED),
    ("ipv4", "http://0.0.0.0:{p}/", REFUSED),
    ("ipv4", "http://224.0.0.1/", REFUSED),
    ("ipv4", "http://239.255.255.250/", REFUSED),
    ("ipv4", "http://255.255.255.255/", REFUSED),
    ("ipv4", "http://240.0.0.1/", REFUSED),
    ("ipv4", "http://192.0.0.8/", REFUSED),
    ("ipv4", "http://192.0.2.1/", REFUSED),
    ("ipv4", "http://198.18.0.1/", REFUSED),
    ("ipv4", "http://127.0.0.3:{p}/", REFUSED),  # beside the allow-listed /32
    # IPv6: loopback, mapped, compatible, 6to4, NAT64, Teredo, scoped, private, multicast.
    ("ipv6", "http://[::1]:{p}/", REFUSED),
    ("ipv6", "http://[0:0:0:0:0:0:0:1]:{p}/", REFUSED),
    ("ipv6", "http://[::]:{p}/", REFUSED),
    ("ipv6", "http://[::ffff:127.0.0.1]:{p}/", REFUSED),
    ("ipv6", "http://[::ffff:7f00:1]:{p}/", REFUSED),
    ("ipv6", "http://[::ffff:169.254.169.254]/", REFUSED),
    ("ipv6", "http://[::ffff:10.0.0.1]/", REFUSED),
    ("ipv6", "http://[::ffff:0.0.0.0]/", REFUSED),
    ("ipv6", "http://[::127.0.0.1]:{p}/", REFUSED),
    ("ipv6", "http://[2002:7f00:1::]:{p}/", REFUSED),
    ("ipv6", "http://[2002:a9fe:a9fe::1]/", REFUSED),
    ("ipv6", "http://[64:ff9b::127.0.0.1]:{p}/", REFUSED),
    ("ipv6", "http://[64:ff9b::a9fe:a9fe]/", REFUSED),
    ("ipv6", "http://[64:ff9b:1::a9fe:a9fe]/", REFUSED),
    ("ipv6", "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", REFUSED),  # Teredo
    ("ipv6", "http://[fe80::1]/", REFUSED),
    ("ipv6", "http://[fe80::1%25lo]:{p}/", REFUSED),  # scoped
    ("ipv6", "http://[fe80::1%lo]:{p}/", REFUSED),
    ("ipv6", "http://[fc00::1]/", REFUSED),
    ("ipv6", "http://[fd00::1]/", REFUSED),
    ("ipv6", "http://[fec0::1]/", REFUSED),
    ("ipv6", "http://[ff02::1]/", REFUSED),
    ("ipv6", "http://[2001:db8::1]/", REFUSED),
    ("ipv6", "http://[127.0.0.1]:{p}/", REFUSED),
    ("ipv6", "http://[::1/", REFUSED),
    # localhost by name: accepted (names are not resolved at creation), refused at delivery.
    ("localhost", "http://localhost:{p}/", BLOCKED),
    ("localhost", "http://LOCALHOST:{p}/", BLOCKED),
    ("localhost", "http://LocalHost:{p}/x?y=1", BLOCKED),
    ("localhost", "http://localhost.:{p}/", BLOCKED),
    ("localhost", "http://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54:{p}/", BLOCKED),  # fullwidth
    ("localhost", "http://localhost\u3002:{p}/", BLOCKED),  # ideographic trailing dot (may be dns)
    ("localhost", "http://\u24db\u24de\u24d2\u24d0\u24db\u24d7\u24de\u24e2\u24e3:{p}/", BLOCKED),  # circled
    ("localhost", "https://localhost:{p}/", BLOCKED),
    ("localhost", "http://local\u00adhost:{p}/", REFUSED),  # soft hyphen (a format character)
    ("localhost", "http://local\u200bhost:{p}/", REFUSED),  # zero-width space
    # Userinfo and the parser-confusion tricks built on it.
    ("userinfo", "http://user@127.0.0.1:{p}/", REFUSED),
    ("userinfo", "http://user:pass@example.com/", REFUSED),
    ("userinfo", "http://example.com@127.0.0.1:{p}/", REFUSED),
    ("userinfo", "http://@127.0.0.1:{p}/", REFUSED),
    ("userinfo", "http://:@localhost:{p}/", REFUSED),
    ("userinfo", "http://example.com:80@localhost:{p}/", REFUSED),
    ("userinfo", "http://127.0.0.1:{p}#@example.com/", REFUSED),
    ("userinfo", "http://example.com#@127.0.0.1:{p}/", REFUSED),
    ("userinfo", "http://localhost:{p}\\@example.com/", REFUSED),
    ("userinfo", "http://example.com\\@127.0.0.1:{p}/", REFUSED),
    ("userinfo", "http://example.com%40127.0.0.1:{p}/", REFUSED),
    ("userinfo", "http://%31%32%37.0.0.1:{p}/", REFUSED),  # percent-encoded host
    # Schemes Herald does not dial, and URLs without one.
    ("scheme", "ftp://127.0.0.1:{p}/", REFUSED),
    ("scheme", "file:///etc/passwd", REFUSED),
    ("scheme", "gopher://127.0.0.1:{p}/_x", REFUSED),
    ("scheme", "ws://localhost:{p}/", REFUSED),
    ("scheme", "wss://example.com/", REFUSED),
    ("scheme", "dict://127.0.0.1:{p}/", REFUSED),
    ("scheme", "javascript:alert(1)", REFUSED),
    ("scheme", "data:text/plain,hi", REFUSED),
    ("scheme", "herald-listen://session", REFUSED),
    ("scheme", "//localhost:{p}/", REFUSED),
    ("scheme", "http:/localhost:{p}/", REFUSED),
    ("scheme", "http:localhost:{p}", REFUSED),
    ("scheme", "HTTP://127.0.0.1:{p}/", REFUSED),
    # Control characters and whitespace anywhere.
    ("crlf", "http://localhost:{p}/a\r\nX-Injected: 1", REFUSED),
    ("crlf", "http://localhost:{p}/\nx", REFUSED),
    ("crlf", "http://local\rhost:{p}/", REFUSED),
    ("crlf", "http://exa mple.com/", REFUSED),
    ("crlf", "http://example.com/a b", REFUSED),
    ("crlf", "http://example.com/\tx", REFUSED),
    ("crlf", " http://localhost:{p}/", REFUSED),
    ("crlf", "http://localhost:{p}/\u2028", REFUSED),
    ("crlf", "http://example.com\u3000/", REFUSED),
    ("crlf", "http://localhost:{p}/\x7f", REFUSED),
    # Ports outside 1-65535 or not written in ASCII digits.
    ("port", "http://example.com:0/", REFUSED),
    ("port", "http://example.com:65536/", REFUSED),
    ("port", "http://example.com:-1/", REFUSED),
    ("port", "http://example.com:99999999999999999999/", REFUSED),
    ("port", "http://localhost:\uff18\uff10/", REFUSED),  # fullwidth 80
    ("port", "http://localhost:+{p}/", REFUSED),
    ("port", "http://localhost:{p}:{p}/", REFUSED),
    ("port", "http://localhost:/", REFUSED),
    ("port", "http://localhost:0x50/", REFUSED),
    # Malformed hosts.
    ("malformed", "http://" + "a" * 300 + ".example.com/", REFUSED),
    ("malformed", "http://" + ".".join(["abcdefghij" * 6] * 5) + "/", REFUSED),  # a 304-character name
    ("malformed", "http:///path", REFUSED),
    ("malformed", "http://", REFUSED),
    ("malformed", "http://a..b/", REFUSED),
    ("malformed", "http://-a.example/", REFUSED),
    ("malformed", "http://exa<mple.com/", REFUSED),
]
