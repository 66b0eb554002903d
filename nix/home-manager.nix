# Home Manager module (flake output homeManagerModules.default): installs labtui and writes
# ~/.config/labtui/config.toml, which labtui reads when the flake's directory has no labtui.toml
# (docs/config.md has every key; labtui checks them and names a wrong one in one line).
{ self }:
{ config, lib, pkgs, ... }:
let
  cfg = config.programs.labtui;
  toml = pkgs.formats.toml { };
in
{
  options.programs.labtui = {
    enable = lib.mkEnableOption "labtui, a TUI and CLI for a NixOS lab described by one flake";

    package = lib.mkOption {
      type = lib.types.package;
      default = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
      defaultText = lib.literalExpression "labtui.packages.\${pkgs.stdenv.hostPlatform.system}.default";
      description = "The labtui package to install.";
    };

    settings = lib.mkOption {
      inherit (toml) type;
      default = { };
      example = lib.literalExpression ''
        {
          defaults = { poll_interval = 5; jump_host = "bastion"; };
          hosts.web1 = { tags = [ "prod" "web" ]; critical = true; };
          tags.web.checks = [ { kind = "unit"; unit = "nginx.service"; } ];
          deploy.parallel = 4;
        }
      '';
      description = ''
        labtui's settings, written to {file}`$XDG_CONFIG_HOME/labtui/config.toml` (the keys of
        labtui.toml, docs/config.md). Nothing is written while this is empty.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    home.packages = [ cfg.package ];
    xdg.configFile."labtui/config.toml" = lib.mkIf (cfg.settings != { }) {
      source = toml.generate "labtui-config.toml" cfg.settings;
    };
  };
}
