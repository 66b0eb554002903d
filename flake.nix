{
  description = "labtui: status, health checks, logs and deploys for a NixOS lab described by one flake";

  # Pinned by flake.lock (how it was made and how to move it: docs/install.md, "The flake's lock").
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;

      # labtui is POSIX Python, OpenSSH and Nix: Linux and macOS (deploy-rs operators often run macOS).
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      pyproject = lib.importTOML ./pyproject.toml;

      # pyproject.toml's runtime dependencies, "name>=floor,<ceiling" each (tests/inventory/test_flake_nix.py
      # holds them to that form): the range labtui is tested in.
      requirements = map
        (spec:
          let m = builtins.match "([A-Za-z0-9_.-]+)>=([0-9.]+),<([0-9.]+)" spec;
          in
          if m == null then throw "flake.nix: cannot read the requirement `${spec}` of pyproject.toml" else {
            name = builtins.elemAt m 0;
            floor = builtins.elemAt m 1;
            ceiling = builtins.elemAt m 2;
          })
        pyproject.project.dependencies;

      # The releases labtui is tested with, from PyPI, for a dependency whose nixpkgs version is outside
      # the range (nixpkgs' textual was 6.x, its asyncssh older than 2.24). Hashes: the sdists' SHA-256,
      # `pip download --no-deps --no-binary :all: NAME==VERSION` then `nix hash file --sri` (docs/install.md).
      fromPypi = {
        textual = {
          version = "8.2.8";
          hash = "sha256-PxBqn7xz453SZslxJDIIfeeKbWRAhMfCQdaiXDFpEVs=";
          override = ps: version: old: {
            build-system = [ ps.poetry-core ];
            dependencies = with ps; [
              markdown-it-py
              mdit-py-plugins
              linkify-it-py
              platformdirs
              pygments
              rich
              typing-extensions
            ];
            meta = old.meta // { changelog = "https://github.com/Textualize/textual/blob/v${version}/CHANGELOG.md"; };
          };
        };
        asyncssh = {
          version = "2.24.1";
          hash = "sha256-78026bNfeYc1NbBkRKfJsKPGHZcIGyCMf90/2KQPHso=";
          override = ps: version: old: {
            build-system = [ ps.setuptools ];
            # nixpkgs' patches are made for its own release.
            patches = [ ];
            postPatch = "";
            meta = old.meta // { changelog = "https://github.com/ronf/asyncssh/blob/v${version}/docs/changes.rst"; };
          };
        };
      };

      inRange = req: pkg: lib.versionAtLeast pkg.version req.floor && lib.versionOlder pkg.version req.ceiling;

      # nixpkgs' package when it is in labtui's range, else the tested release from PyPI. The sdists carry
      # no test suite (and nixpkgs' own tests target nixpkgs' release): labtui's suite tests them below.
      pythonOverrides = final: prev: lib.listToAttrs (map
        (req:
          let
            pkg = prev.${req.name};
            pinned = fromPypi.${req.name} or null;
          in
          {
            inherit (req) name;
            value =
              if inRange req pkg then pkg
              else if pinned == null then
                throw "nixpkgs has ${req.name} ${pkg.version}; labtui needs >=${req.floor},<${req.ceiling}: update the flake's nixpkgs input (`nix flake update`) or add ${req.name} to fromPypi in flake.nix"
              else
                pkg.overridePythonAttrs (old: {
                  inherit (pinned) version;
                  src = final.fetchPypi { pname = req.name; inherit (pinned) version hash; };
                  doCheck = false;
                } // pinned.override final pinned.version old);
          })
        requirements);

      # The man page and completion scripts come from labtui's own parser (labtui _manpage, labtui completion).
      mkLabtui = pkgs:
        let
          python = pkgs.python3.override { self = python; packageOverrides = pythonOverrides; };
          ps = python.pkgs;
          canRun = pkgs.stdenv.buildPlatform.canExecute pkgs.stdenv.hostPlatform;
        in
        ps.buildPythonApplication {
          pname = "labtui";
          inherit (pyproject.project) version;
          pyproject = true;
          src = self;

          build-system = [ ps.setuptools ];
          dependencies = map (req: ps.${req.name}) requirements;
          nativeBuildInputs = [ pkgs.installShellFiles ];

          # labtui runs ssh, git and deploy-rs's `deploy`; suffixed, so the user's own (and their nix and
          # nixos-rebuild) come first on PATH.
          makeWrapperArgs = [ "--suffix" "PATH" ":" (lib.makeBinPath [ pkgs.openssh pkgs.git pkgs.deploy-rs ]) ];

          postInstall = lib.optionalString canRun ''
            labtui() { PYTHONPATH="$out/${python.sitePackages}:$PYTHONPATH" ${python.interpreter} -m labtui "$@"; }
            labtui _manpage > labtui.1
            installManPage labtui.1
            installShellCompletion --cmd labtui \
              --bash <(labtui completion bash) \
              --zsh <(labtui completion zsh) \
              --fish <(labtui completion fish)
          '' + ''
            mkdir -p $out/share/doc/labtui
            cp -r README.md LICENSE docs screenshots $out/share/doc/labtui/
          '';

          # A wrong dependency version fails here, not on the user's machine.
          pythonImportsCheck = [ "labtui.tui.app" "labtui.ssh.pool" "labtui.runs.supervisor" "labtui.cli.supervise" ];

          doCheck = true;
          nativeCheckInputs = [ ps.pytestCheckHook ps.pytest-asyncio ps.hypothesis ];
          preCheck = ''
            export HOME=$(mktemp -d)
            # The installed program, wrapped as users get it.
            [ "$($out/bin/labtui --version)" = "labtui ${pyproject.project.version}" ]
          '';
          # The unit tests. Integration tests need a real sshd, nix, the package index or a testbed (`make test`
          # runs them); snapshots compare SVGs byte for byte with the exact pytest-textual-snapshot of
          # pyproject.toml; tests/packaging builds venvs and wrappers of its own.
          pytestFlags = [ "-m" "not integration" ];
          disabledTestPaths = [ "tests/tui/test_snapshots.py" "tests/packaging" ];
          __darwinAllowLocalNetworking = true; # the simulated lab answers over SSH on loopback

          passthru = { inherit python; };

          meta = {
            description = pyproject.project.description;
            longDescription = ''
              A keyboard-driven Textual TUI and a CLI for a NixOS home lab described by one flake: live fleet
              status over SSH, deploy-rs and nixos-rebuild deploys with honest outcomes, health checks, logs,
              generations, reboots and a deploy history. `labtui demo` opens it on a simulated lab.
            '';
            license = lib.licenses.mit;
            mainProgram = "labtui";
            platforms = lib.platforms.linux ++ lib.platforms.darwin;
          };
        };
    in
    {
      overlays.default = final: prev: { labtui = mkLabtui final; };

      packages = forAllSystems (pkgs: rec {
        labtui = mkLabtui pkgs;
        default = labtui;
      });

      apps = forAllSystems (pkgs: {
        default = {
          type = "app";
          program = lib.getExe self.packages.${pkgs.stdenv.hostPlatform.system}.default;
          meta.description = "labtui's TUI (`nix run . -- demo` for the simulated lab)";
        };
      });

      # `nix flake check`: the package builds, its unit tests pass against the pinned dependencies, and the
      # installed program, man page and completion scripts are there.
      checks = forAllSystems (pkgs:
        let labtui = self.packages.${pkgs.stdenv.hostPlatform.system}.labtui;
        in {
          inherit labtui;
          installed = pkgs.runCommand "labtui-installed" { nativeBuildInputs = [ labtui ]; } ''
            export HOME=$(mktemp -d)
            labtui --version
            labtui demo --help > /dev/null
            test -s ${labtui}/share/man/man1/labtui.1.gz
            test -s ${labtui}/share/bash-completion/completions/labtui.bash
            test -s ${labtui}/share/zsh/site-functions/_labtui
            test -s ${labtui}/share/fish/vendor_completions.d/labtui.fish
            touch $out
          '';
        });

      # Home Manager: programs.labtui writes ~/.config/labtui/config.toml (labtui reads it when the flake's
      # directory has no labtui.toml; keys: docs/config.md) and installs the package.
      homeManagerModules.default = import ./nix/home-manager.nix { inherit self; };

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [ pkgs.python3 pkgs.openssh pkgs.git pkgs.gnumake ];
          shellHook = ''
            echo "labtui dev shell: 'make test' creates .venv (pyproject.toml's pinned tools) and runs the suite"
          '';
        };
      });
    };
}
