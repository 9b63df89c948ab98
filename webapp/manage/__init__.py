"""Administration on the product's own pages (/manage/): users and roles, and the LLM endpoint of each role
with a "Test connection" button. Admin role required everywhere; every change is in the access audit trail.

``services`` writes (and holds the rules: no superuser flag, no lock-out of the last admin), ``selectors``
reads, ``connection`` makes the one test call through the gateway, ``views`` are thin.
"""
