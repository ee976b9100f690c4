"""Static files under content-hashed names, so they can be cached for as long as a browser likes.

WhiteNoise's compressed manifest storage, with Django's rewriting of ES-module imports
(`import { X } from "./protocol.js"` becomes `./protocol.<hash>.js`): a page of one
release only ever loads modules of that release, whatever nginx or the browser cached.
"""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """Hashed, compressed, and with `import ... from` in JavaScript modules rewritten to hashed names."""

    support_js_module_import_aggregation = True
