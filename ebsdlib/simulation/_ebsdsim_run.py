"""Run ebsdsim once, in a process of its own: ``python _ebsdsim_run.py SPEC.json OUT.npz``.

Mesa's llvmpipe, which WebGPU uses on a CPU, loads its own LLVM; TensorFlow imported into the same process
afterwards crashes. :func:`ebsdlib.simulation.dynamical.dynamical_master_pattern_array` therefore computes in
this separate process, which imports ebsdsim and wgpu only, and reads the ``.npz`` file it writes.

Exit codes: 0 written; 3 no WebGPU adapter; 4 non-finite intensities; the message on standard error.
"""

import json
import sys


def main(spec_path: str, out: str) -> int:
    with open(spec_path) as f:
        spec = json.load(f)
    try:
        import wgpu

        wgpu.gpu.request_adapter_sync(power_preference="high-performance")
    except Exception as err:  # noqa: BLE001 - wgpu raises several kinds when no adapter can be had
        sys.stderr.write(f"no WebGPU adapter ({type(err).__name__}: {err})")
        return 3
    import ebsdsim as es

    cell = es.Cell(*spec["lattice"], space_group=spec["space_group"])
    atoms = [es.Atom(a["element"], *a["xyz"], occupancy=a["occupancy"]) for a in spec["atoms"]]
    try:
        mp = es.master_pattern(es.Material(cell, atoms, name=spec["name"]), **spec["parameters"])
    except ValueError as err:
        if "non-finite" not in str(err):
            raise
        sys.stderr.write(str(err))
        return 4
    es.save_master_pattern(mp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
