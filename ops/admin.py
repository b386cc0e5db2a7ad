"""Admin pages of ops: none of its own now.

The calendar feed tokens' admin (list, revoke) moved to leapportal/admin.py with the model.
"""
