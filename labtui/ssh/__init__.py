"""SSH to the lab's hosts: one persistent asyncssh connection per host, host keys always verified."""
