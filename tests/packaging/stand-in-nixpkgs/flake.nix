# A stand-in for nixpkgs with just what labtui's flake.nix uses (hand-written for the tests, no nixpkgs code),
# so `nix flake show` and `nix flake check` evaluate that flake offline:
#   nix flake check --override-input nixpkgs path:tests/packaging/stand-in-nixpkgs
# Every derivation is real (built by /bin/sh in a moment) and keeps the arguments it was made from, so a
# test can read back what flake.nix asked for. The Python packages' versions come from versions.json.
{
  description = "stand-in for nixpkgs (labtui's flake tests)";

  outputs = { self }:
    let
      versions = builtins.fromJSON (builtins.readFile ./versions.json);
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];

      lib = {
        genAttrs = names: f: builtins.listToAttrs (map (name: { inherit name; value = f name; }) names);
        importTOML = path: builtins.fromTOML (builtins.readFile path);
        versionAtLeast = a: b: builtins.compareVersions a b >= 0;
        versionOlder = a: b: builtins.compareVersions a b < 0;
        inherit (builtins) listToAttrs;
        optionalString = cond: s: if cond then s else "";
        makeBinPath = ps: builtins.concatStringsSep ":" (map (p: "${p}/bin") ps);
        getExe = drv: "${drv}/bin/${drv.meta.mainProgram}";
        licenses.mit = { spdxId = "MIT"; shortName = "mit"; };
        platforms = { linux = [ "x86_64-linux" "aarch64-linux" ]; darwin = [ "x86_64-darwin" "aarch64-darwin" ]; };
      };

      forSystem = system:
        let
          # A derivation that builds (an empty file) and keeps `attrs` beside its own attributes.
          drv = name: attrs: attrs // derivation {
            inherit name system;
            builder = "/bin/sh";
            args = [ "-c" "echo > $out" ];
          };

          # A Python package as nixpkgs has it: `overridePythonAttrs` re-makes it from changed attributes.
          # nixpkgs' textual builds its changelog URL from its GitHub source's tag, which a PyPI source lacks.
          pyPkg = attrs: drv "python3-${attrs.pname}-${attrs.version}" (attrs // {
            meta = (if attrs.pname == "textual" then {
              changelog = "https://github.com/Textualize/textual/blob/${attrs.src.tag}/CHANGELOG.md";
            } else { }) // attrs.meta;
            overridePythonAttrs = f: pyPkg (attrs // f attrs);
          });
          nixpkgsPackage = pname: pyPkg rec {
            inherit pname;
            version = versions.${pname} or "1.0";
            src = { tag = "v${version}"; url = "nixpkgs' own source of ${pname}"; };
            dependencies = [ ];
            meta = { description = pname; };
          };
          names = [
            "textual" "asyncssh" "tomli-w" "setuptools" "poetry-core" "markdown-it-py" "mdit-py-plugins"
            "linkify-it-py" "platformdirs" "pygments" "rich" "typing-extensions" "pytestCheckHook" "pytest-asyncio"
            "hypothesis"
          ];
          basePackages = final: builtins.listToAttrs (map (n: { name = n; value = nixpkgsPackage n; }) names) // {
            fetchPypi = { pname, version, hash }: drv "${pname}-${version}.tar.gz" { inherit pname version hash; };
            buildPythonApplication = args: drv "${args.pname}-${args.version}" (args // { builtWith = "stand-in"; });
          };
          makePython = overrides:
            let
              fix = f: let x = f x; in x;
              pkgs = fix (final: let base = basePackages final; in base // overrides final base);
            in
            {
              inherit pkgs;
              sitePackages = "lib/python3.13/site-packages";
              interpreter = "/nix/store/00000000000000000000000000000000-python3-3.13/bin/python3.13";
              override = { self ? null, packageOverrides ? (_: _: { }) }: makePython packageOverrides;
            };
          python3 = makePython (_: _: { });
        in
        {
          inherit python3;
          python3Packages = python3.pkgs;
          stdenv = { buildPlatform.canExecute = _: true; hostPlatform = { inherit system; }; };
          installShellFiles = drv "install-shell-files" { };
          openssh = drv "openssh" { };
          git = drv "git" { };
          deploy-rs = drv "deploy-rs" { };
          gnumake = drv "gnumake" { };
          runCommand = name: env: script: drv name { inherit env script; };
          mkShell = args: drv "shell" args;
        };
    in
    {
      inherit lib;
      legacyPackages = lib.genAttrs systems forSystem;
    };
}
