// Vertex shader shared by the viewer's ShaderMaterial display modes (albedo, normals,
// matcap, wireframe). three.js prepends the declarations of position, normal, uv, color
// (only when the mesh has vertex colours: USE_COLOR, or USE_COLOR_ALPHA for RGBA) and the
// matrices, so meshes with and without COLOR_0 both compile.

varying vec3 vViewNormal;
varying vec3 vWorldNormal;
varying vec3 vColor;
varying vec2 vUv;

#ifdef DD3D_BARYCENTRIC
// (1,0,0), (0,1,0), (0,0,1) at a triangle's corners; only the wireframe mode sets it
attribute vec3 barycentric;
varying vec3 vBarycentric;
#endif

void main() {
  // normalMatrix is right under non-uniform scale too; the view matrix is a pure rotation
  // plus translation, so multiplying on the left by it (row vector) undoes its rotation
  vViewNormal = normalize(normalMatrix * normal);
  vWorldNormal = normalize((vec4(vViewNormal, 0.0) * viewMatrix).xyz);

#if defined(USE_COLOR_ALPHA)
  vColor = color.rgb;
#elif defined(USE_COLOR)
  vColor = color;
#else
  vColor = vec3(1.0);
#endif

  vUv = uv;
#ifdef DD3D_BARYCENTRIC
  vBarycentric = barycentric;
#endif
  gl_Position = projectionMatrix * modelViewMatrix * vec4(position, 1.0);
}
