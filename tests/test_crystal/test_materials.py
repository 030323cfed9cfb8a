import itertools
import re

import numpy as np
import pytest

from ebsdlib.crystal.materials import (
    SPACE_GROUPS,
    disordered,
    distinguishing_families,
    dual_phase_materials,
    hkl_families,
    materials_by_space_group,
    parse_space_group,
    reflection_table,
    space_group_reflections,
    structure_factors,
    training_materials,
)

HKL = np.array([hkl for hkl in itertools.product(range(-4, 5), repeat=3) if any(hkl)])


def general_condition(space_group: int, h: int, k: int, l: int) -> bool:
    """Reflection conditions of International Tables A for the six space groups (general position).

    True if (h, k, l) may be present. Each condition is checked over all cubic permutations of the
    indices, as the tables list them for one representative.
    """
    perms = set(itertools.permutations((h, k, l)))
    if space_group == 221:
        return True
    if space_group == 223:  # hhl: l = 2n
        return all(not (a == b and c % 2) for a, b, c in perms)
    if space_group == 225:  # h, k, l all even or all odd
        return len({h % 2, k % 2, l % 2}) == 1
    if space_group == 227:
        if len({h % 2, k % 2, l % 2}) != 1:
            return False
        for a, b, c in perms:
            if a == 0 and (b + c) % 4:  # 0kl: k + l = 4n
                return False
            if a == b == 0 and c % 4:  # h00: h = 4n
                return False
        return True
    if space_group == 229:  # h + k + l even
        return (h + k + l) % 2 == 0
    if space_group == 230:
        if (h + k + l) % 2:
            return False
        for a, b, c in perms:
            if a == 0 and (b % 2 or c % 2):  # 0kl: k, l = 2n
                return False
            if a == b and (2 * a + c) % 4:  # hhl: 2h + l = 4n
                return False
            if a == b == 0 and c % 4:  # h00: h = 4n
                return False
        return True
    raise ValueError(space_group)


class TestParseSpaceGroup:
    @pytest.mark.parametrize(
        ("value", "number"), [(225, 225), ("225", 225), ("Fm-3m", 225), ("Fm3m", 225), ("Ia-3d", 230), ("Pm-3n", 223)]
    )
    def test_numbers_and_symbols(self, value, number):
        assert parse_space_group(value) == number

    @pytest.mark.parametrize("value", ["Xy-9", "231", "0", "steel"])
    def test_bad_names_say_what_is_accepted(self, value):
        with pytest.raises(ValueError, match="space group"):
            parse_space_group(value)


class TestMaterials:
    def test_the_papers_18_materials_in_six_space_groups(self):
        mats = training_materials()
        assert len(mats) == 18
        groups = materials_by_space_group(mats)
        assert tuple(groups) == SPACE_GROUPS
        assert {sg: len(m) for sg, m in groups.items()} == {221: 4, 223: 2, 225: 5, 227: 2, 229: 3, 230: 2}

    @pytest.mark.parametrize(
        ("name", "atoms"), [("Ni", 4), ("W", 2), ("Si", 8), ("NbC", 8), ("Cr3Si", 8), ("Ni3Al", 4), ("FeAl", 2), ("Al4Ni3", 112)]
    )
    def test_sites_expand_to_full_cells(self, materials, name, atoms):
        assert materials[name].atoms_per_cell() == pytest.approx(atoms)

    @pytest.mark.parametrize(
        ("name", "parent", "shares"), [("Fe3Ni", 225, {"Fe": 0.75, "Ni": 0.25}), ("FeAl", 229, {"Fe": 0.5, "Al": 0.5})]
    )
    def test_the_disordered_counterpart_keeps_cell_composition_and_fundamental_reflections(self, materials, name, parent, shares):
        ordered = materials[name]
        mixed = disordered(ordered, parent)
        assert (mixed.space_group, mixed.lattice_parameter) == (parent, ordered.lattice_parameter)
        assert {s.element: s.occupancy for s in mixed.sites} == shares
        assert mixed.atoms_per_cell() == pytest.approx(ordered.atoms_per_cell())
        families = hkl_families(12)
        F, G = np.abs(structure_factors(ordered, families)), np.abs(structure_factors(mixed, families))
        superlattice = 1e-6 * G.max() > G
        assert superlattice.any() and np.all(F[superlattice] > 0)  # what ordering adds
        np.testing.assert_allclose(F[~superlattice], G[~superlattice], rtol=1e-9)  # the parent's bands unchanged

    @pytest.mark.parametrize(
        ("name", "parent", "says"), [("Si", 225, "holds 8 atoms"), ("Ni3Al", 229, "holds 4 atoms"), ("Ni", 221, "not one of")]
    )
    def test_only_superstructures_of_fcc_or_bcc_have_a_disordered_counterpart(self, materials, name, parent, says):
        with pytest.raises(ValueError, match=says):
            disordered(materials[name], parent)

    def test_dual_phase_compositions(self):
        matrix, precipitate = dual_phase_materials()
        assert (matrix.space_group, precipitate.space_group) == (225, 221)
        for material, al in ((matrix, 0.197), (precipitate, 0.257)):
            atoms = material.phase().structure
            share = sum(a.occupancy for a in atoms if a.element == "Al") / sum(a.occupancy for a in atoms)
            assert share == pytest.approx(al, abs=1e-3)

    def test_a_reader_tells_every_material_apart_by_what_is_shown(self, materials):
        shown = [m.shown for m in materials.values()]
        assert len(set(shown)) == len(shown), "two materials would read the same in a table"
        assert materials["NiAl_gamma"].shown == "Ni(Al) matrix" and materials["Ni3Al_gamma_prime"].shown == "Ni3Al precipitate"
        assert all(m.shown == m.name for m in materials.values() if m.role == "training")


class TestReflectionConditions:
    @pytest.mark.parametrize("name", [m.name for m in training_materials()])
    def test_forbidden_reflections_vanish(self, materials, name):
        """Every reflection the space group forbids has |F| = 0 in the structure factors."""
        m = materials[name]
        F = structure_factors(m, HKL)
        forbidden = np.array([not general_condition(m.space_group, *hkl) for hkl in HKL])
        assert forbidden.any() == (m.space_group != 221)
        assert np.all(F[forbidden] < 1e-6 * F.max())

    @pytest.mark.parametrize(("name", "space_group"), [("Ni", 225), ("W", 229), ("NiAl", 221)])
    def test_simple_structures_have_exactly_the_lattice_extinctions(self, materials, name, space_group):
        F = structure_factors(materials[name], HKL)
        allowed = np.array([general_condition(space_group, *hkl) for hkl in HKL])
        np.testing.assert_array_equal(1e-6 * F.max() < F, allowed)

    def test_diamond_d_glide(self, materials):
        F = dict(
            zip(
                ["111", "200", "220", "222", "400", "420"],
                structure_factors(materials["Si"], [[1, 1, 1], [2, 0, 0], [2, 2, 0], [2, 2, 2], [4, 0, 0], [4, 2, 0]]),
                strict=False,
            )
        )
        assert F["200"] < 1e-6 and F["222"] < 1e-6 and F["420"] < 1e-6
        assert min(F["111"], F["220"], F["400"]) > 1

    def test_221_and_223_differ_on_hhl(self, materials):
        hhl_odd_l = [[1, 1, 1], [2, 2, 1], [1, 1, 3]]
        assert np.all(structure_factors(materials["NiAl"], hhl_odd_l) > 0.1)  # f(Ni) - f(Al), a superlattice band
        assert np.all(structure_factors(materials["Cr3Si"], hhl_odd_l) < 1e-6)


class TestReflectionTable:
    def test_space_group_table_marks_absences(self):
        table = reflection_table(max_sum_of_squares=8)
        per_sg = space_group_reflections(table)
        assert list(per_sg.index) == list(SPACE_GROUPS)
        assert list(per_sg.columns) == ["{100}", "{110}", "{111}", "{200}", "{210}", "{211}", "{220}"]
        assert per_sg.loc[225, "{100}"] == 0 and per_sg.loc[225, "{111}"] > 0
        assert per_sg.loc[229, "{110}"] > 0 and per_sg.loc[229, "{111}"] == 0
        assert per_sg.loc[227, "{200}"] == 0
        assert (per_sg.loc[221] > 0).all()

    def test_distinguishing_families_differ_between_groups(self):
        table = reflection_table(max_sum_of_squares=8)
        sep = distinguishing_families(table)
        assert "{100}" in sep.index  # only primitive 221 has it
        assert all(sep.loc[f].nunique() == 2 for f in sep.index)

    def test_families_are_ordered_by_sum_of_squares(self):
        fams = hkl_families(12)
        assert fams[:4] == [(1, 0, 0), (1, 1, 0), (1, 1, 1), (2, 0, 0)]
        assert (2, 2, 2) in fams and (3, 2, 0) not in fams


class TestSourceTask:
    def test_disjoint_from_the_target_task(self):
        from ebsdlib.crystal.materials import source_task_materials

        source = source_task_materials()
        target = {m.name for m in training_materials()} | {m.name for m in dual_phase_materials()}
        assert len({m.space_group for m in source}) >= 5
        assert not {m.space_group for m in source} & set(SPACE_GROUPS)
        assert not {m.name for m in source} & target

    @pytest.mark.parametrize(("name", "atoms"), [("Mg", 2), ("Sn", 4), ("FeS2", 12), ("Cu2O", 6), ("ZnS", 8)])
    def test_cells(self, materials, name, atoms):
        assert materials[name].atoms_per_cell() == pytest.approx(atoms)


class TestMaterialFromCif:
    @pytest.mark.parametrize("name", ["NiAl", "Ni", "Si", "Cr3Si", "Al4Ni3"])
    def test_a_p1_cif_of_the_full_cell_is_symmetrised_back_to_its_space_group(self, name, materials, tmp_path):
        from ebsdlib.crystal.materials import material_from_cif

        material = materials[name]
        path = tmp_path / f"{name}.cif"
        material.phase().structure.write(str(path), "cif")
        assert "P1" in path.read_text()
        read = material_from_cif(path)
        assert read.space_group == material.space_group
        assert read.atoms_per_cell() == pytest.approx(material.atoms_per_cell())
        assert read.lattice_parameter == pytest.approx(material.lattice_parameter)

    def test_a_cif_with_its_space_group_keeps_its_asymmetric_unit(self, tmp_path):
        from ebsdlib.crystal.materials import material_from_cif

        path = tmp_path / "Cu.cif"
        path.write_text(
            "data_Cu\n_symmetry_space_group_name_H-M 'F m -3 m'\n_symmetry_Int_Tables_number 225\n"
            "_cell_length_a 3.615\n_cell_length_b 3.615\n_cell_length_c 3.615\n"
            "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
            "loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
            "Cu1 Cu 0 0 0\n"
        )
        copper = material_from_cif(path)
        assert (copper.space_group, len(copper.sites), copper.atoms_per_cell()) == (225, 1, 4.0)

    def test_a_bad_cif_is_named(self, tmp_path):
        from ebsdlib.crystal.materials import material_from_cif

        with pytest.raises(ValueError, match="does not exist"):
            material_from_cif(tmp_path / "none.cif")
        (tmp_path / "bad.cif").write_text("this is not a CIF")
        with pytest.raises(ValueError, match="bad.cif"):
            material_from_cif(tmp_path / "bad.cif")

    @pytest.mark.parametrize(
        ("change", "says"),
        [
            (("3.615\n_cell_length_b", "3615\n_cell_length_b"), "= 3615 Å, outside 1–50 Å (a typo in _cell_length?)"),
            (
                ("_symmetry_Int_Tables_number 225", "_symmetry_Int_Tables_number 229"),
                "'F m -3 m' is group 225, its number is 229",
            ),
            (("Cu1 Cu 0 0 0\n", "Cu1 Cu 0 0 0\ndata_other\n"), "holds 2 data blocks (Cu, other); give one phase per CIF"),
            (
                (
                    "loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
                    "Cu1 Cu 0 0 0\n",
                    "",
                ),
                "holds no atoms",
            ),
        ],
    )
    def test_a_cif_the_reader_would_misread_is_refused(self, tmp_path, change, says):
        from ebsdlib.crystal.materials import material_from_cif

        text = (
            "data_Cu\n_symmetry_space_group_name_H-M 'F m -3 m'\n_symmetry_Int_Tables_number 225\n"
            "_cell_length_a 3.615\n_cell_length_b 3.615\n_cell_length_c 3.615\n"
            "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
            "loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
            "Cu1 Cu 0 0 0\n"
        )
        assert change[0] in text
        path = tmp_path / "Cu.cif"
        path.write_text(text.replace(change[0], change[1]))
        with pytest.raises(ValueError, match=re.escape(says)):
            material_from_cif(path)

    @pytest.mark.parametrize(
        ("group", "sites", "says"),
        [
            (
                "'P 1'\n_symmetry_Int_Tables_number 1",
                "Cu1 Cu 0 0 0 0.5\nAu1 Au 0 0 0 0.5\n",
                "partial occupancies in a cell without its space group",
            ),
            (
                "'F m -3 m'\n_symmetry_Int_Tables_number 225",
                "Cu1 Cu 0 0 0 0.7\nAu1 Au 0 0 0 0.6\n",
                "sum to more than 1 at (0, 0, 0): 1.3",
            ),
        ],
    )
    def test_partial_occupancies_the_path_cannot_keep_are_refused(self, tmp_path, group, sites, says):
        from ebsdlib.crystal.materials import material_from_cif

        path = tmp_path / "CuAu.cif"
        path.write_text(self._cif(group, sites))
        with pytest.raises(ValueError, match=re.escape(says)):
            material_from_cif(path)

    def test_a_disordered_phase_keeps_its_occupancies_and_simulate_says_so(self, tmp_path, capsys):
        from ebsdlib.cli import main
        from ebsdlib.crystal.materials import has_partial_occupancies, material_from_cif

        path = tmp_path / "CuAu.cif"
        path.write_text(self._cif("'F m -3 m'\n_symmetry_Int_Tables_number 225", "Cu1 Cu 0 0 0 0.75\nAu1 Au 0 0 0 0.25\n"))
        alloy = material_from_cif(path)
        assert has_partial_occupancies(alloy) and alloy.atoms_per_cell() == pytest.approx(4.0)
        assert sorted((s.element, s.occupancy) for s in alloy.sites) == [("Au", 0.25), ("Cu", 0.75)]
        assert (
            main(["simulate", "--cif", str(path), "--n", "1", "--out", str(tmp_path / "out"), "--detector-shape", "20", "24"])
            == 0
        )
        assert (
            "note: " + str(path) + " has partly occupied sites; CuAu is simulated as the average crystal"
            in capsys.readouterr().out
        )

    @staticmethod
    def _cif(group: str, sites: str) -> str:
        return (
            f"data_CuAu\n_symmetry_space_group_name_H-M {group}\n"
            "_cell_length_a 3.75\n_cell_length_b 3.75\n_cell_length_c 3.75\n"
            "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
            "loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
            "_atom_site_occupancy\n" + sites
        )

    def test_a_hexagonal_cell_keeps_its_angles(self, tmp_path):
        from ebsdlib.crystal.materials import material_from_cif

        path = tmp_path / "Mg.cif"
        path.write_text(
            "data_Mg\n_symmetry_space_group_name_H-M 'P1'\n_symmetry_Int_Tables_number 1\n"
            "_cell_length_a 3.209\n_cell_length_b 3.209\n_cell_length_c 5.211\n"
            "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 120\n"
            "loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
            "Mg1 Mg 0.333333 0.666667 0.25\nMg2 Mg 0.666667 0.333333 0.75\n"
        )
        read = material_from_cif(path)
        assert read.space_group == 194 and read.lattice is not None
        assert read.lattice[5] == pytest.approx(120, abs=1e-3) and read.lattice[3] == pytest.approx(90, abs=1e-3)
        assert read.lattice[0] == pytest.approx(3.209) and read.atoms_per_cell() == pytest.approx(2)
