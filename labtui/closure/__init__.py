"""What a switch would change on a host, before it happens: closure diffs (issue 14).

`names` reads `name-version` out of store path names the way nvd does; `diff` compares two closures
(packages added, removed, changed with old → new versions, sizes, what the switch implies); `query` asks a
host over SSH for its running system's closure and sizes, and the local store for the new one; `fleet`
does it for many hosts at once. Layer: below `ops | deploy` (the build step hands it store paths), above
`runs`; no Textual.
"""
