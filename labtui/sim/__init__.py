"""The simulated lab: host state shared by the demo's SSH servers and the deploy-rs/nixos-rebuild emulators.

Nothing here is used against real hosts; it exists so `labtui demo` and the tests have a lab that
behaves like one (deploys move generations, broken configs roll back, units fail, journals stream).
"""
