"""deploy-rs's output → run events: the parser (`parser`), its vocabulary (`records`), its plan (`plan`)."""

from labtui.deploy.parse.deploy_rs.parser import DeployRsParser
from labtui.deploy.parse.deploy_rs.records import LOG_RE

__all__ = ["LOG_RE", "DeployRsParser"]
