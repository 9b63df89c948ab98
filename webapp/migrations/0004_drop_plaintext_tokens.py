"""Remove the plaintext API tokens of rest_framework.authtoken.

Tokens are now hashed and expiring (django-rest-knox, webapp/tokens.py). The old app is no longer installed,
so its table would keep every key that was ever issued in clear text; a database made before the change
drops it here. A fresh database never had it.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("webapp", "0003_accessevent")]

    operations = [migrations.RunSQL("DROP TABLE IF EXISTS authtoken_token", migrations.RunSQL.noop)]
