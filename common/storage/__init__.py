"""Object storage: the ``ObjectStorage`` interface, local disk and MinIO/S3 implementations."""
from common.storage.base import ObjectStorage, check_key
from common.storage.local import LocalStorage

__all__ = ["LocalStorage", "ObjectStorage", "check_key"]
# MinioStorage lives in common.storage.minio_store (it imports the minio SDK).
