"""The launcher: the ``milvus-py`` command and what it starts.

- ``cli.py``: ``milvus-py run ROLE | standalone`` (the console script).
- ``roles.py``: the roles a process can run, their start order, and how to build each one's
  RoleServer (from the role package's ``create_server``).
- ``standalone.py``: a whole cluster on one machine, each role its own supervised process.
- ``embedded_etcd.py``: an etcd server as a child process, for the standalone cluster (and the
  tests, which start etcd the same way).

Roles never import this package; it imports them.
"""
