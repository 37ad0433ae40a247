"""Public Milvus API protos (milvus.proto.common/schema/milvus), identical to pymilvus 2.6.17."""
