// Supplies std::ios_base_library_init(), the one GLIBCXX_3.4.32 symbol libLibTorchSharp.so (TorchSharp 0.107.0, built
// with GCC 15) needs and Debian 12's libstdc++ (GLIBCXX_3.4.30) lacks. It does what the GCC 13+ runtime does:
// construct the ios_base::Init object that sets up the standard streams. See DEPENDENCIES.md §3.1.
#include <ios>

namespace std
{
    __attribute__((visibility("default"))) void ios_base_library_init()
    {
        static ios_base::Init init;
    }
}
