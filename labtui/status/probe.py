"""The status probe: one POSIX `sh` script per host per refresh, answering in a line format.

The script is sent on stdin to `/bin/sh -s labtui-probe 1`, so the remote login shell (bash, zsh,
fish, csh...) only ever sees that short command and cannot mangle the script's quoting. It never
fails as a whole: every field is reported as `key<TAB>value`, or as `missing<TAB>key<TAB>reason`
when the host cannot tell (not NixOS, no systemd, no /proc...). The format is documented in
docs/status.md and read by `labtui.status.parse`.

Print the script to run it by hand:  python -m labtui.status.probe | ssh HOST /bin/sh -s
"""

from __future__ import annotations

import shlex

from labtui.commandlog import register_by_hand

PROBE_VERSION = 1
MARKER = f"labtui-probe {PROBE_VERSION}"  # first line of the output
# The command the login shell runs; the script comes on stdin. `labtui-probe 1` become $1 and $2
# of the script, which lets handlers of simulated hosts recognise the probe from the command alone.
PROBE_COMMAND = f"/bin/sh -s {MARKER}"
# What labtui reads of a probe's answer (a normal one is about 2 KB): a host answering more is cut there, and
# shown degraded with that as the reason.
PROBE_MAX_OUTPUT = 256 * 1024

# Keep this script free of bash-isms (checked by running it with dash in the tests) and of
# anything slower than reading /proc: it runs every few seconds on every host.
PROBE_SCRIPT = r"""
PATH="/run/current-system/sw/bin:/run/wrappers/bin:$PATH:/usr/bin:/bin:/usr/sbin:/sbin"
LC_ALL=C
export PATH LC_ALL
kv() { printf '%s\t%s\n' "$1" "$2"; }
missing() { printf 'missing\t%s\t%s\n' "$1" "$2"; }
have() { command -v "$1" >/dev/null 2>&1; }
first_line() { IFS= read -r _line <"$1" && printf '%s' "$_line"; }

echo 'labtui-probe 1'

if [ -r /proc/sys/kernel/hostname ]; then kv hostname "$(first_line /proc/sys/kernel/hostname)"
elif have hostname; then kv hostname "$(hostname)"
else missing hostname 'no /proc/sys/kernel/hostname and no hostname command'; fi

if [ -r /proc/uptime ]; then read -r _up _idle </proc/uptime; kv uptime "$_up"
else missing uptime 'no /proc/uptime'; fi

if [ -r /proc/loadavg ]; then read -r _l1 _l5 _l15 _rest </proc/loadavg; kv load "$_l1 $_l5 $_l15"
else missing load 'no /proc/loadavg'; fi

if have nproc; then kv cpus "$(nproc)"
elif [ -r /proc/cpuinfo ]; then kv cpus "$(grep -c '^processor' /proc/cpuinfo)"
else missing cpus 'no nproc command and no /proc/cpuinfo'; fi

if [ -r /proc/meminfo ]; then
  while read -r _key _value _unit; do
    case "$_key" in
      MemTotal:) kv mem-total-kb "$_value" ;;
      MemAvailable:) kv mem-available-kb "$_value" ;;
    esac
  done </proc/meminfo
else missing mem-total-kb 'no /proc/meminfo'; fi

for _m in / /nix; do
  if [ ! -d "$_m" ]; then missing "disk:$_m" "no $_m directory"
  elif ! have df; then missing "disk:$_m" 'df: command not found'
  else
    # df -P: one POSIX line per file system; the last field is where it is mounted.
    _df=$(df -P -k "$_m" 2>/dev/null |
      { read -r _header; read -r _fs _total _used _avail _cap _on; echo "$_total $_used $_avail $_on"; })
    case "$_df" in
      [0-9]*) kv "disk:$_m" "$_df" ;;
      *) missing "disk:$_m" "df -P -k $_m gave no usable answer" ;;
    esac
  fi
done

for _s in current booted; do
  _link="/run/$_s-system"
  if [ -e "$_link" ]; then
    kv "$_s-system" "$(readlink -f "$_link")"
    for _t in kernel initrd kernel-modules; do
      if [ -e "$_link/$_t" ]; then kv "$_s-$_t" "$(readlink -f "$_link/$_t")"
      else missing "$_s-$_t" "no $_link/$_t"; fi
    done
  else missing "$_s-system" "no $_link (not NixOS)"; fi
done

_profile=/nix/var/nix/profiles/system
if [ -L "$_profile" ]; then
  _gen=$(readlink "$_profile")
  kv profile-link "$_gen"
  kv system-profile "$(readlink -f "$_profile")"
  case "$_gen" in /*) ;; *) _gen="/nix/var/nix/profiles/$_gen" ;; esac
  # The generation link's own mtime (no -L) is when it was created, as `nix-env --list-generations` shows.
  if have stat && _mtime=$(stat -c %Y "$_gen" 2>/dev/null); then kv profile-mtime "$_mtime"
  else missing profile-mtime "cannot stat $_gen"; fi
else missing profile-link "no $_profile (not NixOS)"; fi

if have nixos-version; then kv nixos-version "$(nixos-version 2>/dev/null)"
else missing nixos-version 'nixos-version: command not found (not NixOS)'; fi

if have systemctl; then
  # is-system-running exits non-zero when degraded; its word is what matters.
  _running=$(systemctl is-system-running 2>/dev/null)
  if [ -n "$_running" ]; then kv system-running "$_running"
  else missing system-running 'systemctl is-system-running gave no answer'; fi
  if _failed=$(systemctl list-units --failed --plain --no-legend 2>/dev/null); then
    kv failed-units-listed yes
    # At most 100 names (a host with thousands of failed units still answers in a few KB), then how many more.
    printf '%s\n' "$_failed" | {
      _n=0
      while read -r _unit _rest; do
        [ -n "$_unit" ] || continue
        _n=$((_n + 1))
        [ "$_n" -le 100 ] && kv failed-unit "$_unit"
      done
      [ "$_n" -gt 100 ] && kv failed-units-more "$((_n - 100))"
    }
  else missing failed-units 'systemctl list-units --failed did not work (systemd not running?)'; fi
else
  missing system-running 'systemctl: command not found (no systemd)'
  missing failed-units 'systemctl: command not found (no systemd)'
fi

if [ -r /proc/sys/kernel/random/boot_id ]; then kv boot-id "$(first_line /proc/sys/kernel/random/boot_id)"
else missing boot-id 'no /proc/sys/kernel/random/boot_id'; fi

echo 'end'
""".lstrip()


# Following a host: one long-lived `sh` per host answers a report per line it reads, instead of a new
# SSH channel and script per refresh (channel open, exec, script, EOF, exit status, close: a dozen
# packets each way, which at fleet size cost the client more CPU than anything else). The first report
# comes at once; each later one when a line arrives on stdin. The body reads nothing from stdin (it
# runs with stdin from /dev/null), so request lines reach only the loop's `read`; and as a request is
# sent only after the previous report, the shell is in its loop, never reading script, when one comes.
_SPLIT = "echo 'labtui-probe 1'\n"
_HEAD, _BODY = PROBE_SCRIPT.split(_SPLIT, 1)
FOLLOW_SCRIPT = (_HEAD + "labtui_probe() {\n" + _SPLIT + _BODY + "}\n"
                 + "labtui_probe </dev/null\n"
                 + "while read -r _next; do labtui_probe </dev/null; done\n")
FOLLOW_COMMAND = f"/bin/sh -s {MARKER} follow"
FOLLOW_REQUEST = "\n"  # asks for the next report
REPORT_END = "end"  # the last line of every report


def is_probe_command(command: str) -> bool:
    """True when `command` is the probe (used by simulated hosts to recognise it)."""
    return command.strip() == PROBE_COMMAND


def is_follow_command(command: str) -> bool:
    """True when `command` is the following probe (FOLLOW_COMMAND)."""
    return command.strip() == FOLLOW_COMMAND


def _by_hand(host: str) -> str:
    """The probe as the command log shows it: `/bin/sh -s labtui-probe 1` does nothing without its script on stdin,
    `labtui status HOST` runs the same probe once, over the same SSH settings, and shows what it found."""
    return f"labtui status {shlex.quote(host)}"


register_by_hand(PROBE_COMMAND, _by_hand)
register_by_hand(FOLLOW_COMMAND, _by_hand)


if __name__ == "__main__":  # pragma: no cover - manual use, see the module docstring
    print(PROBE_SCRIPT, end="")
