"""Acting from chat: one chat-neutral core that Slack and Mattermost adapters share.

A button press or a slash command becomes the same Temporal update the CLI and the Web UI
send, with the same validator, sent as the person the roster maps the chat user to. Nothing here
speaks HTTP or verifies signatures: the adapters (`warroom.intake.slack`,
`warroom.intake.mattermost`) do that first, then call `ChatDesk`.

    (warroom.contracts.chat: ChatUser, ChatAction, a button encoded into its value, ChatOutcome)
    identity  chat user → roster person (`WARROOM_ONCALL`'s contacts)
    commands  `/incident ...` text → one request, with the CLI's arguments
    desk      the update sent, deduplicated by a key the adapter derives from the action
"""
