"""The upload handler of every request: files go to temporary files, and stop at the size limit.

Django's TemporaryFileUploadHandler writes a whole upload before anything looks at its size. This
one writes a file only up to SYNCLAB_UPLOAD_MAX_BYTES: past that it deletes what it wrote, counts
the rest without storing it (so the refusal names the exact size) and leaves the refusal on the
request. A body declared larger than the files a job can take is not read into files at all.
"""

from django.conf import settings
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http import QueryDict
from django.utils.datastructures import MultiValueDict

from modelzoo.media.probe import size_text
from webapp.body_limit import too_large_message


class SizeLimitedUploadHandler(TemporaryFileUploadHandler):
    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        limit = settings.SYNCLAB_UPLOAD_MAX_REQUEST_BYTES
        if content_length and content_length > limit:
            self.request.upload_refusal = too_large_message(content_length, limit)
            return QueryDict(), MultiValueDict()  # "parsed": the body is never read
        return super().handle_raw_input(input_data, META, content_length, boundary, encoding)

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.over_limit = False

    def receive_data_chunk(self, raw_data, start):
        if self.over_limit:
            return None  # counted by the parser, never stored
        if start + len(raw_data) > settings.SYNCLAB_UPLOAD_MAX_BYTES:
            self.over_limit = True
            self.file.close()  # a NamedTemporaryFile: closing deletes it
            return None
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size):
        if not self.over_limit:
            return super().file_complete(file_size)
        self.request.upload_refusal = (
            f"{self.field_name}: {self.file_name}: the file is {size_text(file_size)}; "
            f"the limit is {size_text(settings.SYNCLAB_UPLOAD_MAX_BYTES)}"
        )
        return None
