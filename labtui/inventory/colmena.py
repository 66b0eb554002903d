"""A Colmena hive as an inventory: the flake's `colmena` / `colmenaHive` output, read when it has no `deploy.nodes`.

What a node's `deployment.*` options are is decided by the NixOS module system (Colmena's eval.nix evaluates every
node with nixpkgs' eval-config): the hive's `defaults` module and the node's own modules define them, priorities
(`mkDefault`, `mkForce`) pick the winning definitions, lists (`tags`, `privilegeEscalationCommand`) are concatenated
in module order, and unset options take Colmena's defaults (targetHost = the node's name, targetUser = "root").
Evaluating the module system costs seconds per node and needs nixpkgs, so labtui reads it in two ways:

- the raw `colmena` output, **without the module system** (`SHALLOW`): each node's modules (`defaults` first, then
  the node's, following `imports`) are called with the arguments a module gets (`name`, `lib` from `meta.nixpkgs`,
  `meta.specialArgs`); `config`, `pkgs`, `options` and `nodes` are stand-ins that throw, so a definition that needs
  them is caught (builtins.tryEval) and reported as unresolved instead of guessed; `modulesPath` imports (nixpkgs'
  own modules, which never set `deployment.*`) are skipped. The definitions of `deployment` are then merged as the
  module system would (priorities, mkIf, mkMerge, mkOrder, list concatenation);
- a `colmenaHive` output (`colmena.lib.makeHive`, already evaluated by Colmena's eval.nix), **through the module
  system** (`DEEP`), lazily: `deploymentConfig.<node>` for the nodes the raw output could not resolve (or all, when
  there is no raw output). Only the options labtui uses are forced, never a system's toplevel, and never the
  contents of `deployment.keys` (only their names).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labtui.errors import ConfigError
from labtui.inventory.model import COLMENA_PRIVILEGE_ESCALATION, ColmenaNode, Host, Source, SshTarget
from labtui.inventory.nix import attr_path, nix_string
from labtui.inventory.validate import check_hostname, check_name, check_privilege_command, check_user

# deployment.* options labtui reads -> (ColmenaNode field, Colmena's default (None: the node's name), JSON type).
OPTIONS: dict[str, tuple[str, Any, tuple[type, ...]]] = {
    "targetHost": ("target_host", None, (str, type(None))),
    "targetUser": ("target_user", "root", (str, type(None))),
    "targetPort": ("target_port", None, (int, type(None))),
    "tags": ("tags", (), (list,)),
    "buildOnTarget": ("build_on_target", False, (bool,)),
    "allowLocalDeployment": ("allow_local_deployment", False, (bool,)),
    "replaceUnknownProfiles": ("replace_unknown_profiles", True, (bool,)),
    "privilegeEscalationCommand": ("privilege_escalation_command", COLMENA_PRIVILEGE_ESCALATION, (list,)),
}
LIST_OPTIONS = ("tags", "privilegeEscalationCommand")
RESERVED = ("defaults", "network", "meta")  # eval.nix reservedNames: not nodes

_KEYS = " ".join(nix_string(k) for k in OPTIONS)
_LISTS = " ".join(nix_string(k) for k in LIST_OPTIONS)

# `hive: { kind = "colmena"; nodes = { NAME = { settings = {...}; keys = [..]; unresolved = [..]; }; }; }`.
# %-formatting (the Nix text is full of braces).
SHALLOW = """
hive0:
let
  inherit (builtins) attrNames concatMap elem filter foldl' functionArgs isAttrs isFunction isList isPath
    isString listToAttrs mapAttrs sort tryEval deepSeq;
  keys = [ %(keys)s ];
  lists = [ %(lists)s ];
  hive = if isFunction hive0 || hive0 ? __functor then hive0 { } else hive0;
  meta = hive.meta or hive.network or { };
  # The user's lib when meta.nixpkgs is an initialized nixpkgs (a flake hive must have one), else the constructors.
  userLib = let t = tryEval (meta.nixpkgs.lib or null); in
    if t.success && isAttrs t.value && t.value ? mkIf then t.value else null;
  lib = if userLib != null then userLib else {
    mkIf = condition: content: { _type = "if"; inherit condition content; };
    mkMerge = contents: { _type = "merge"; inherit contents; };
    mkOverride = priority: content: { _type = "override"; inherit priority content; };
    mkDefault = lib.mkOverride 1000; mkForce = lib.mkOverride 50; mkOptionDefault = lib.mkOverride 1500;
    mkOrder = priority: content: { _type = "order"; inherit priority content; };
    mkBefore = lib.mkOrder 500; mkAfter = lib.mkOrder 1500;
  };
  needs = what: throw "labtui reads deployment.* without the module system; this needs ${what}";
  missingPath = "/labtui-has-no-modulesPath";
  argsFor = name: (meta.specialArgs or { }) // ((meta.nodeSpecialArgs or { }).${name} or { }) // {
    inherit name lib;
    config = needs "config"; options = needs "options"; pkgs = needs "pkgs"; nodes = needs "nodes";
    modulesPath = missingPath;
  };
  isNixpkgsModule = m: (isString m || isPath m)
    && builtins.substring 0 (builtins.stringLength missingPath) (toString m) == missingPath;
  # A definition with its wrappers resolved: [ { value; priority; order; } ], or an `unresolved` entry.
  discharge = prio: order: v:
    let t = tryEval (if isAttrs v then v ? _type else false); in
    if !t.success then [ { unresolved = true; } ]
    else if !t.value then [ { value = v; priority = prio; inherit order; } ]
    else if v._type == "if" then
      (let c = tryEval (v.condition == true); in
       if !c.success then [ { unresolved = true; } ] else if c.value then discharge prio order v.content else [ ])
    else if v._type == "merge" then concatMap (discharge prio order) v.contents
    else if v._type == "override" then discharge v.priority order v.content
    else if v._type == "order" then discharge prio v.priority v.content
    else [ { value = v; priority = prio; inherit order; } ];
  # Every module of a node, imports followed: [ { module = attrset; } | { unresolved = true; } ].
  load = args: m:
    if isNixpkgsModule m then [ ]
    else let
      t = tryEval (let v = if isPath m || isString m then import m else m; in
        if isFunction v then v (args // mapAttrs (n: _: args.${n} or (needs "the module argument ${n}"))
                                                 (functionArgs v))
        else v);
      r = t.value;
      imports = tryEval (if isAttrs r then (r.imports or [ ]) else [ ]);
    in if !t.success || !(isAttrs r) then [ { unresolved = true; } ]
       else [ { module = r; } ]
         ++ (if imports.success && isList imports.value then concatMap (load args) imports.value
             else [ { unresolved = true; } ]);
  deploymentDefs = entry:
    if entry ? unresolved then [ { unresolved = true; } ]
    else let
      r = entry.module;
      body = tryEval (if r ? config || r ? options then (r.config or { }) else r);
    in if !body.success then [ { unresolved = true; } ]
       else concatMap (b: if b ? unresolved then [ b ]
                          else let d = tryEval (isAttrs b.value && b.value ? deployment); in
                            if !d.success then [ { unresolved = true; } ]
                            else if d.value then discharge b.priority b.order b.value.deployment else [ ])
         (discharge 100 1000 body.value);
  readNode = name:
    let
      configs = let c = hive.${name}; in if isList c then c else [ c ];
      modules = concatMap (load (argsFor name)) ([ (hive.defaults or { }) ] ++ configs);
      defs = concatMap deploymentDefs modules;
      opaque = builtins.any (d: d ? unresolved) defs;   # a module or a `deployment` we could not read
      good = filter (d: !(d ? unresolved)) defs;
      defsOf = key: concatMap (d: let h = tryEval (isAttrs d.value && d.value ? ${key}); in
        if !h.success then [ { unresolved = true; } ]
        else if h.value then discharge d.priority d.order d.value.${key} else [ ]) good;
      merge = key:
        let
          all = defsOf key;
          ok = filter (d: !(d ? unresolved)) all;
          best = foldl' (m: d: if d.priority < m then d.priority else m) 99999 ok;
          chosen = sort (a: b: a.order < b.order) (filter (d: d.priority == best) ok);
          values = map (d: d.value) chosen;
          merged = if elem key lists then builtins.concatLists values else builtins.head values;
          forced = tryEval (deepSeq merged merged);
          agree = builtins.all (v: v == builtins.head values) values;
        in if builtins.any (d: d ? unresolved) all then { unresolved = true; }
           else if chosen == [ ] then { unset = true; }
           else if !forced.success then { unresolved = true; }
           else if !(elem key lists) && !agree then { conflict = true; }
           else { value = forced.value; };
      results = listToAttrs (map (key: { name = key; value = merge key; }) keys);
      keyNames = concatMap (d: let k = tryEval (if isAttrs d.value && d.value ? keys && isAttrs d.value.keys
                                                then attrNames d.value.keys else [ ]); in
                              if k.success then k.value else [ ]) good;
    in {
      settings = mapAttrs (_: r: r.value) (builtins.removeAttrs results
        (filter (k: !(results.${k} ? value)) keys));
      # An unreadable module may define anything: unset options and lists (it may add to them) stay open.
      unresolved = filter (k: results.${k} ? unresolved || (opaque && (!(results.${k} ? value) || elem k lists)))
        keys;
      conflicts = filter (k: results.${k} ? conflict) keys;
      keys = keyNames;
    };
  names = filter (n: !(elem n [ %(reserved)s ])) (attrNames hive);
in {
  kind = "colmena";
  nodes = listToAttrs (map (name: { inherit name; value = readNode name; }) names);
}
""" % {"keys": _KEYS, "lists": _LISTS, "reserved": " ".join(nix_string(r) for r in RESERVED)}  # noqa: UP031

# `hiveOutput: names: { kind = "colmenaHive"; nodes = ...; }`: the module system's own answer, option by option.
DEEP = """
hive: names: {
  kind = "colmenaHive";
  nodes = builtins.listToAttrs (map (name: { inherit name; value = let d = hive.deploymentConfig.${name}; in {
    settings = builtins.intersectAttrs (builtins.listToAttrs (map (k: { name = k; value = null; }) [ %(keys)s ])) d;
    keys = builtins.attrNames (d.keys or { });
    unresolved = [ ]; conflicts = [ ];
  }; }) names);
}
""" % {"keys": _KEYS}  # noqa: UP031

# The part of labtui's one `nix eval` (labtui.inventory.evaluate) about Colmena, for a flake without deploy.nodes:
# the raw output read shallowly, else the colmenaHive through the module system.
FLAKE_PART = """
(flake:
  if flake ? colmena then (%(shallow)s) flake.colmena // { hasHive = flake ? colmenaHive; }
  else if flake ? colmenaHive then
    (%(deep)s) flake.colmenaHive (builtins.attrNames flake.colmenaHive.nodes) // { hasHive = true; }
  else null)
""" % {"shallow": SHALLOW.strip(), "deep": DEEP.strip()}  # noqa: UP031


# The same after nix failed on the shallow read: the colmenaHive through the module system, or only the node names
# (everything unresolved) of a raw output.
FLAKE_PART_DEEP = """
(flake:
  if flake ? colmenaHive then
    (%(deep)s) flake.colmenaHive (builtins.attrNames flake.colmenaHive.nodes) // { hasHive = true; }
  else if flake ? colmena then {
    kind = "colmena"; hasHive = false;
    nodes = builtins.listToAttrs (map (name: { inherit name; value = {
      settings = { }; keys = [ ]; conflicts = [ ]; unresolved = [ %(keys)s ]; }; })
      (builtins.filter (n: !(builtins.elem n [ %(reserved)s ])) (builtins.attrNames flake.colmena)));
  }
  else null)
""" % {"deep": DEEP.strip(), "keys": _KEYS, "reserved": " ".join(nix_string(r) for r in RESERVED)}  # noqa: UP031


def deep_expression(nix_ref: str, names: list[str]) -> str:
    """A second evaluation, through the module system, of the nodes the raw output left unresolved."""
    return (f"(flake: ({DEEP.strip()}) flake.colmenaHive [ {' '.join(nix_string(n) for n in names)} ]) "
            f"(builtins.getFlake {nix_string(nix_ref)})")


def _check(key: str, value: Any, where: str) -> Any:
    _field, _default, kinds = OPTIONS[key]
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise ConfigError(f"`{where}.deployment.{key}` has the wrong type ({type(value).__name__}); "
                          "fix it in the hive")
    if isinstance(value, list) and not all(isinstance(v, str) for v in value):
        raise ConfigError(f"`{where}.deployment.{key}` must be a list of strings; fix it in the hive")
    return tuple(value) if isinstance(value, list) else value


def build_colmena_hosts(hive: Mapping[str, Any], output: str, *,
                        ssh_config: str | None = None) -> tuple[list[Host], list[str]]:
    """Hosts of the hive (sorted by name), and warnings (unresolved options, local-only nodes).

    `ssh_config`: the ssh_config file Colmena gives every node's ssh (`-F`), from SSH_CONFIG_FILE; labtui's own
    connections (status, checks, logs, exec, rollback) take it too, so they reach the hosts `colmena apply` reaches."""
    hosts: list[Host] = []
    warnings: list[str] = []
    for name, node in sorted((hive.get("nodes") or {}).items()):
        where = f"{output}.{attr_path(name)}"
        check_name("node name", name, f"({where})")
        settings = node.get("settings") or {}
        sources: dict[str, Source] = {}
        values: dict[str, Any] = {}
        unresolved = list(node.get("unresolved") or ())
        for key, (field, default, _kinds) in OPTIONS.items():
            if key in settings:
                values[field] = _check(key, settings[key], where)
                sources[field] = "colmena"
            else:
                values[field] = name if key == "targetHost" else default
                sources[field] = "default"
        for key in node.get("conflicts") or ():
            raise ConfigError(f"`{where}.deployment.{key}` has conflicting definitions (the module system refuses "
                              "them too); keep one, or use lib.mkForce")
        fix = "add a `colmenaHive` output (colmena.lib.makeHive) so labtui reads it through the module system"
        if "targetHost" in unresolved and "targetHost" not in settings:
            warnings.append(f"{where}: deployment.targetHost depends on `config`, `pkgs` or `nodes`, which labtui "
                            f"does not evaluate without the module system, so this host is left out; {fix}")
            continue
        for key in unresolved:
            if key in settings:
                what = "may be incomplete" if key in LIST_OPTIONS else "may be overridden"
            else:
                what = "is taken as Colmena's default"
            warnings.append(f"{where}: deployment.{key} {what}: a module of the node could not be read without the "
                            f"module system (it needs `config`, `pkgs` or `nodes`); {fix}")
        colmena = ColmenaNode(keys=tuple(sorted(node.get("keys") or ())), has_hive=bool(hive.get("hasHive")),
                              **values)
        if colmena.target_host is None:
            warnings.append(f"{where}: deployment.targetHost is null (local deployment only, `colmena apply-local`); "
                            "labtui cannot reach it and leaves it out")
            continue
        hostname = check_hostname("host name", colmena.target_host, f"({where}.deployment.targetHost)")
        if colmena.target_user is not None:
            check_user("ssh user", colmena.target_user, f"({where}.deployment.targetUser)")
        check_privilege_command(list(colmena.privilege_escalation_command),
                                f"in {where}.deployment.privilegeEscalationCommand")
        host_sources: dict[str, Source] = {
            "hostname": sources["target_host"], "ssh_user": sources["target_user"], "port": sources["target_port"],
            "tags": sources["tags"], "method": "default", "critical": "default", "poll_interval": "default",
            "checks": "default", "jump_hosts": "default"}
        hosts.append(Host(
            name=name, hostname=hostname, method="colmena", tags=colmena.tags, in_deploy=False, colmena=colmena,
            ssh=SshTarget(hostname=hostname, user=colmena.target_user, port=colmena.target_port,
                          config_file=ssh_config),
            sources=host_sources))
    return hosts, warnings
