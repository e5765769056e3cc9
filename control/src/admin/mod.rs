//! The admin protocol and the model of what rvsadm lists.
