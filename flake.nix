{
  description = "labtui: status, health checks, logs and deploys for a NixOS lab described by one flake";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAllSystems = f: lib.genAttrs systems (system: f system nixpkgs.legacyPackages.${system});
      pyproject = builtins.fromTOML (builtins.readFile ./pyproject.toml);

      # Built from pyproject.toml, so the version and the entry point have one source of truth.
      mkLabtui = pkgs:
        pkgs.python3Packages.buildPythonApplication {
          pname = "labtui";
          version = pyproject.project.version;
          format = "pyproject";
          src = self;

          nativeBuildInputs = [ pkgs.python3Packages.setuptools ];
          propagatedBuildInputs = with pkgs.python3Packages; [ textual asyncssh tomli-w ];
          # nixpkgs may lag a minor release behind the ranges in pyproject.toml.
          pythonRelaxDeps = [ "textual" "asyncssh" "tomli-w" ];

          # labtui drives ssh and git; the user's own versions (and their nix, deploy-rs,
          # nixos-rebuild) come first on PATH.
          makeWrapperArgs = [ "--suffix" "PATH" ":" (lib.makeBinPath [ pkgs.openssh pkgs.git ]) ];

          # The suite needs a real sshd and nix (`make test`); importing the package is checked here.
          doCheck = false;
          pythonImportsCheck = [ "labtui" ];

          meta = {
            description = pyproject.project.description;
            license = lib.licenses.mit;
            mainProgram = "labtui";
            platforms = systems;
          };
        };
    in
    {
      overlays.default = final: prev: { labtui = mkLabtui final; };

      packages = forAllSystems (_system: pkgs: rec {
        labtui = mkLabtui pkgs;
        default = labtui;
      });

      apps = forAllSystems (system: _pkgs: {
        default = {
          type = "app";
          program = "${self.packages.${system}.default}/bin/labtui";
        };
      });

      devShells = forAllSystems (_system: pkgs: {
        default = pkgs.mkShell {
          packages = [
            (pkgs.python3.withPackages (ps:
              [ ps.textual ps.asyncssh ps.tomli-w ps.setuptools ps.pytest ps.pytest-asyncio ps.hypothesis ]
              ++ lib.optional (ps ? pytest-textual-snapshot) ps.pytest-textual-snapshot))
            pkgs.openssh
            pkgs.git
            pkgs.gnumake
          ];
          shellHook = ''
            echo "labtui dev shell: 'make test' runs the suite, 'make demo' opens the demo lab"
          '';
        };
      });
    };
}
