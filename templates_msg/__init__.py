"""Subscription messages (订阅消息): the registry of template ids, owners'
one-time quotas, and (later) the data builders, sending and ReminderLog."""
