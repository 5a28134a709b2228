/* The .config of the arm64 kernel-tree build (passed with -include). */
#define CONFIG_ARM64 1
#define CONFIG_64BIT 1
#define CONFIG_STACKTRACE 1
#define CONFIG_HAVE_RELIABLE_STACKTRACE 1
#define CONFIG_FUNCTION_GRAPH_TRACER 1
#define CONFIG_KRETPROBES 1
#define CONFIG_VMAP_STACK 1
#define CONFIG_ARM_SDE_INTERFACE 1
#define CONFIG_EFI 1
#define CONFIG_FRAME_POINTER 1
