"""Reports of verified messages, the pluggable moderation queue, actions and the audit chain.

Depends on ``crypto`` only, never on ``server``: a backend or classifier plugin must be writable
against this package alone.
"""
