import os

from django.core.wsgi import get_wsgi_application

from oncoportal.startup import load_settings_or_exit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oncoportal.settings")
load_settings_or_exit()  # a configuration error is one line, not a traceback
application = get_wsgi_application()
