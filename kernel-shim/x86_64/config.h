/* The .config of the x86_64 kernel-tree build (passed with -include). */
#define CONFIG_X86_64 1
#define CONFIG_64BIT 1
#define CONFIG_UNWINDER_ORC 1
#define CONFIG_STACKTRACE 1
#define CONFIG_HAVE_RELIABLE_STACKTRACE 1
#define CONFIG_FUNCTION_GRAPH_TRACER 1
#define CONFIG_KRETPROBES 1
#define CONFIG_RETHOOK 1
#define CONFIG_MODULES 1
