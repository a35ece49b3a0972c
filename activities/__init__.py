"""Every side effect of warroom: notifications, metrics, cluster actions, playbooks."""
