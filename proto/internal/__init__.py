"""Internal role services and broker messages (package milvuspy.internal)."""
